using System.Text;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Broker.Tests.BlackBox;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.Durability;

/// <summary>
/// The real server with the SQLite store, killed with SIGKILL while clients with wills and persistent sessions are
/// connected: the kill closes their connections without DISCONNECT, so the restarted server publishes their wills
/// [MQTT-3.1.2-8], the retained "offline" status of a 3.1.1 device included. A client that had sent DISCONNECT before
/// the kill gets no will.
/// </summary>
public sealed class WillAfterKillTests(ITestOutputHelper output) : BlackBoxTest(null, output)
{
    [Fact]
    public async Task The_wills_of_clients_connected_at_a_SIGKILL_are_published_after_the_restart()
    {
        var server = await StartServerAsync(new ServerProcessOptions { Storage = "sqlite" });
        var root = UniqueNames.Topic("kill-will");
        var watcherId = UniqueNames.ClientId("watcher");
        var persistent = new MqttProperties { SessionExpiryInterval = 3600 };
        await using (var watcher = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V500, watcherId, properties: persistent))
        {
            await watcher.SubscribeGrantedAsync(root + "/#", QoS.AtLeastOnce);
            await watcher.DisconnectAsync();
        }

        // A 3.1.1 device (Clean Session 0) with a retained "offline" status, a 5.0 client with a persistent session, and a
        // 5.0 client that leaves properly before the kill.
        var device = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V311, UniqueNames.ClientId("device"), cleanStart: false,
            will: new WillMessage { Topic = root + "/device/status", Payload = "offline"u8.ToArray(), QoS = QoS.AtLeastOnce, Retain = true });
        var gateway = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V500, UniqueNames.ClientId("gateway"),
            properties: persistent, will: new WillMessage { Topic = root + "/gateway/status", Payload = "lost"u8.ToArray(), QoS = QoS.AtLeastOnce });
        await using (var leaving = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V500, UniqueNames.ClientId("leaving"),
            properties: persistent, will: new WillMessage { Topic = root + "/leaving/status", Payload = "never"u8.ToArray(), QoS = QoS.AtLeastOnce }))
        {
            await leaving.DisconnectAsync();
            Assert.True(await leaving.WaitForCloseAsync(TimeSpan.FromSeconds(5)), "the server closes after DISCONNECT");
        }
        await Task.Delay(300); // the leaving client's session end reaches the disk

        server.Kill();
        await device.DisposeAsync();
        await gateway.DisposeAsync();
        await server.RestartAsync();

        var received = new Dictionary<string, string>(StringComparer.Ordinal);
        await using (var watcher = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500, watcherId))
        {
            await watcher.ConnectAsync(watcherId, cleanStart: false, keepAlive: 0, persistent);
            while (received.Count < 2)
            {
                PublishPacket publish;
                try
                {
                    publish = await watcher.ReceivePublishAsync(TimeSpan.FromSeconds(10));
                }
                catch (MqttTestException)
                {
                    Assert.Fail($"after the restart the watcher got only [{string.Join(", ", received.Keys)}]");
                    throw;
                }
                received[publish.Topic] = Encoding.UTF8.GetString(publish.Payload.Span);
                await watcher.AckAsync(publish);
            }
            // Nothing for the client that sent DISCONNECT.
            await watcher.ExpectNoPacketAsync(TimeSpan.FromMilliseconds(500));
        }
        Assert.Equal("offline", received[root + "/device/status"]);
        Assert.Equal("lost", received[root + "/gateway/status"]);

        // The device's will was retained: a newcomer learns it is offline.
        await using var newcomer = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V311, UniqueNames.ClientId("newcomer"));
        await newcomer.SubscribeGrantedAsync(root + "/device/status", QoS.AtLeastOnce);
        var status = await newcomer.ReceivePublishAsync(TimeSpan.FromSeconds(5));
        Assert.True(status.Retain);
        Assert.Equal("offline", Encoding.UTF8.GetString(status.Payload.Span));
    }
}
