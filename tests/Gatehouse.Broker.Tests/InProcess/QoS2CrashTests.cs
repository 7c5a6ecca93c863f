using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Storage;
using Gatehouse.Testing;

namespace Gatehouse.Broker.Tests.InProcess;

/// <summary>
/// An incoming QoS 2 PUBLISH is written to the store as its packet id, its queue entries and (retained) its retained
/// copy. A crash may stop the store after any of those writes; whatever survives, the publisher's resend after the
/// restart must bring the message to each persistent subscriber exactly once [MQTT-4.3.3-10], [MQTT-4.4.0-1]. The
/// packet id surviving without the queue entries would make the resend look like a duplicate and lose the message
/// (found by the SIGKILL test; here every cut point is tried deterministically).
/// </summary>
public sealed class QoS2CrashTests
{
    private static readonly MqttProperties Persistent = new() { SessionExpiryInterval = 600 };

    [Theory]
    [InlineData(false, 0)]
    [InlineData(false, 1)]
    [InlineData(false, 2)]
    [InlineData(true, 0)]
    [InlineData(true, 1)]
    [InlineData(true, 2)]
    [InlineData(true, 3)]
    public async Task A_resent_QoS2_message_reaches_the_subscriber_exactly_once_whichever_of_its_writes_survived_the_crash(
        bool retain, int writesThatSurvive)
    {
        var store = new PowerCutStore(new MemoryBrokerStore());
        var topic = UniqueNames.Topic("cut");
        var publish = new PublishPacket
        {
            Topic = topic, Payload = "exactly once"u8.ToArray(), QoS = QoS.ExactlyOnce, Retain = retain, PacketId = 7,
        };

        var before = await InProcessBroker.StartAsync(store: store);
        IReadOnlyList<string> held;
        try
        {
            await before.SubscribeOfflineAsync("cut-sub", topic, QoS.ExactlyOnce, Persistent);
            await using var publisher = await MqttTestClient.ConnectNewAsync(before.Port, ProtocolVersion.V500, "cut-pub", properties: Persistent);

            store.Hold();
            await publisher.SendAsync(publish);
            await Eventually.Assert(() => store.Held.Count > 0, "the PUBLISH reached the store");
            // The rest of the PUBLISH's writes are submitted by the same synchronous call; give it time to finish.
            await publisher.ExpectNoPacketAsync(TimeSpan.FromMilliseconds(200));
            held = store.Held;
            await publisher.AbortAsync();
            store.CutPower(writesThatSurvive);
        }
        finally
        {
            await before.DisposeAsync();
        }

        await using var after = await InProcessBroker.StartAsync(store: store.Disk);
        var context = PowerCutStore.Describe(held, writesThatSurvive);
        await using (var publisher = await MqttTestClient.OpenAsync(after.Port, ProtocolVersion.V500, "cut-pub"))
        {
            var connAck = await publisher.ConnectAsync("cut-pub", cleanStart: false, keepAlive: 0, Persistent);
            Assert.True(connAck.SessionPresent, context);
            // Never acknowledged: resent with its packet id and DUP [MQTT-4.4.0-1].
            publish.Dup = true;
            var completion = await publisher.PublishAsync(publish);
            Assert.True(completion is PubCompPacket { ReasonCode: ReasonCode.Success }, $"{context}; the resend ended with {completion}");
            await publisher.DisconnectAsync();
        }

        var (resumed, delivered) = await RecoveredSession.ResumeAndReceiveAsync(after.Port, "cut-sub", Persistent, context);
        await using var resumedClient = resumed;
        Assert.Equal("exactly once", System.Text.Encoding.UTF8.GetString(delivered.Payload.Span));
        await resumed.AckAsync(delivered);
        await resumed.ExpectNoPacketAsync(); // no second copy

        if (!retain) return;
        await using var reader = await MqttTestClient.ConnectNewAsync(after.Port, ProtocolVersion.V500, "cut-reader");
        await reader.SubscribeGrantedAsync(topic);
        Assert.True((await reader.ReceivePublishAsync()).Retain, context);
    }
}
