using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Storage;
using Gatehouse.Testing;

namespace Gatehouse.Broker.Tests.InProcess;

/// <summary>
/// A delayed will that falls due (or goes out because its session expired first [MQTT-3.1.3-9]) is written to the
/// store as the will's queue entries and as the session's change (the will cleared, or the session deleted). A crash
/// may stop the store after any of those writes; whatever survives, the will must still reach a persistent subscriber
/// after the restart: at least once (QoS 1).
/// </summary>
public sealed class WillCrashTests
{
    [Theory]
    [InlineData(600u, 0)]
    [InlineData(600u, 1)]
    [InlineData(600u, 2)]
    [InlineData(5u, 0)]
    [InlineData(5u, 1)]
    [InlineData(5u, 2)]
    public async Task A_will_that_falls_due_reaches_the_subscriber_whichever_writes_survived_the_crash(uint sessionExpiry, int writesThatSurvive)
    {
        var store = new PowerCutStore(new MemoryBrokerStore());
        var topic = UniqueNames.Topic("will-cut");
        var subscriberSession = new MqttProperties { SessionExpiryInterval = 600 };

        var before = await InProcessBroker.StartAsync(store: store);
        IReadOnlyList<string> held;
        try
        {
            await before.SubscribeOfflineAsync("will-sub", topic, QoS.AtLeastOnce, subscriberSession);

            var will = new WillMessage
            {
                Topic = topic, Payload = "gone"u8.ToArray(), QoS = QoS.AtLeastOnce,
                Properties = new MqttProperties { WillDelayInterval = 10 },
            };
            var client = await MqttTestClient.ConnectNewAsync(before.Port, ProtocolVersion.V500, "will-client",
                properties: new MqttProperties { SessionExpiryInterval = sessionExpiry }, will: will);
            await client.AbortAsync();
            // Not only offline: the broker marks the session offline before it stores the pending will, and a hold in
            // between would keep the will itself from the disk.
            await Eventually.Assert(() => store.DiskSnapshot().Sessions.Any(s => s.Session.ClientId == "will-client" && s.Session.PendingWill is not null),
                "the pending will is on the disk");

            store.Hold();
            // The will's delay (10 s) or the session's expiry (5 s), whichever is first, passes.
            before.Clock.Advance(TimeSpan.FromSeconds(10));
            before.Clock.RunDueTimers();
            await Eventually.Assert(() => store.Held.Count > 0, "the will reached the store");
            await Task.Delay(200); // the rest of the sweep's writes
            held = store.Held;
            store.CutPower(writesThatSurvive);
        }
        finally
        {
            await before.DisposeAsync();
        }

        // The restarted broker's clock starts where the first one did: a will the store still holds falls due again.
        await using var after = await InProcessBroker.StartAsync(store: store.Disk);
        after.Clock.Advance(TimeSpan.FromSeconds(20));
        after.Clock.RunDueTimers();
        var (resumed, delivered) = await RecoveredSession.ResumeAndReceiveAsync(after.Port, "will-sub", subscriberSession,
            PowerCutStore.Describe(held, writesThatSurvive));
        await using var resumedClient = resumed;
        Assert.Equal("gone", System.Text.Encoding.UTF8.GetString(delivered.Payload.Span));
    }
}
