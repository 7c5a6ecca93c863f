using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;

namespace Gatehouse.Broker.Tests.InProcess;

/// <summary>What the power-cut tests do on the restarted broker: resume a persistent session and take what it was owed.</summary>
internal static class RecoveredSession
{
    /// <summary>
    /// Resumes <paramref name="clientId"/>'s session (Clean Start 0) and returns the client with the first message it is
    /// given; fails the test with <paramref name="cut"/> (what the power cut kept) if none comes within 10 s.
    /// </summary>
    public static async Task<(MqttTestClient Client, PublishPacket First)> ResumeAndReceiveAsync(
        int port, string clientId, MqttProperties properties, string cut)
    {
        var client = await MqttTestClient.OpenAsync(port, ProtocolVersion.V500, clientId);
        await client.ConnectAsync(clientId, cleanStart: false, keepAlive: 0, properties);
        try
        {
            return (client, await client.ReceivePublishAsync(TimeSpan.FromSeconds(10)));
        }
        catch (MqttTestException)
        {
            await client.DisposeAsync();
            Assert.Fail($"{cut}: nothing reached {clientId}");
            throw;
        }
    }
}
