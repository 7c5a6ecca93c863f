using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Storage;
using Gatehouse.Testing;

namespace Gatehouse.Broker.Tests.InProcess;

/// <summary>
/// A stored will goes out when its delay passes, when its session expires [MQTT-3.1.3-9], or when a CONNECT finds its
/// session over (Clean Start, or the expiry passed) or resumes it after the delay. Each writes the will's queue entries
/// and the session's change (the will cleared, the session deleted or resumed) to the store, and a crash may stop the
/// store after any of those writes; whatever survives, the will must still reach a persistent subscriber after the
/// restart: at least once (QoS 1).
/// </summary>
public sealed class WillCrashTests
{
    private const string WillClient = "will-client";
    private static readonly MqttProperties SubscriberSession = new() { SessionExpiryInterval = 600 };

    [Theory]
    [InlineData(600u, 0)]
    [InlineData(600u, 1)]
    [InlineData(600u, 2)]
    [InlineData(5u, 0)]
    [InlineData(5u, 1)]
    [InlineData(5u, 2)]
    public async Task A_will_that_falls_due_reaches_the_subscriber_whichever_writes_survived_the_crash(uint sessionExpiry, int writesThatSurvive)
    {
        await CutAndRecoverAsync(sessionExpiry, writesThatSurvive, async (broker, store) =>
        {
            // The will's delay (10 s) or the session's expiry (5 s), whichever is first, passes.
            broker.Clock.Advance(TimeSpan.FromSeconds(10));
            broker.Clock.RunDueTimers();
            await Eventually.Assert(() => store.Held.Count > 0, "the will reached the store");
            await Task.Delay(200); // the rest of the sweep's writes
        });
    }

    /// <summary>How a reconnecting client makes its stored will go out; the deadline sweep never runs before it.</summary>
    public enum Reconnect
    {
        /// <summary>Clean Start ends the session, and a pending will goes out with it.</summary>
        CleanStart,
        /// <summary>The session's expiry (5 s) has passed: the client finds none and the will goes out.</summary>
        AfterExpiry,
        /// <summary>The will's delay (10 s) has passed: the session is resumed and the will still goes out.</summary>
        AfterWillDelay,
    }

    [Theory]
    [InlineData(Reconnect.CleanStart, 0)]
    [InlineData(Reconnect.CleanStart, 1)]
    [InlineData(Reconnect.CleanStart, 2)]
    [InlineData(Reconnect.CleanStart, 3)]
    [InlineData(Reconnect.AfterExpiry, 0)]
    [InlineData(Reconnect.AfterExpiry, 1)]
    [InlineData(Reconnect.AfterExpiry, 2)]
    [InlineData(Reconnect.AfterExpiry, 3)]
    [InlineData(Reconnect.AfterWillDelay, 0)]
    [InlineData(Reconnect.AfterWillDelay, 1)]
    [InlineData(Reconnect.AfterWillDelay, 2)]
    public async Task A_will_that_a_reconnect_sends_reaches_the_subscriber_whichever_writes_survived_the_crash(Reconnect reconnect, int writesThatSurvive)
    {
        var sessionExpiry = reconnect == Reconnect.AfterExpiry ? 5u : 600u;
        await CutAndRecoverAsync(sessionExpiry, writesThatSurvive, async (broker, store) =>
        {
            if (reconnect == Reconnect.AfterExpiry) broker.Clock.Advance(TimeSpan.FromSeconds(6));
            if (reconnect == Reconnect.AfterWillDelay) broker.Clock.Advance(TimeSpan.FromSeconds(11));
            var client = await MqttTestClient.OpenAsync(broker.Port, ProtocolVersion.V500, WillClient);
            // Its CONNACK waits for the held writes and never comes: the power is cut first.
            await client.SendAsync(new ConnectPacket
            {
                ProtocolVersion = ProtocolVersion.V500, ClientId = WillClient, CleanStart = reconnect == Reconnect.CleanStart,
                KeepAliveSeconds = 0, Properties = new MqttProperties { SessionExpiryInterval = 600 },
            });
            // Each way ends with the new or resumed session saved; the will's entry may come before or after it.
            await Eventually.Assert(() => store.Held.Contains("Enqueue") && store.Held.Contains("SaveSession"),
                "the will and the reconnect's session reached the store");
            await Task.Delay(200); // the rest of the connect's writes
        });
    }

    /// <summary>
    /// A subscriber's persistent session and <see cref="WillClient"/>'s session with a stored will (delay 10 s) wait
    /// offline; <paramref name="act"/> makes the will go out while the store holds every write; the power is cut after
    /// <paramref name="writesThatSurvive"/> of them, and a broker restarted on what reached the disk must still deliver
    /// the will to the subscriber.
    /// </summary>
    private static async Task CutAndRecoverAsync(uint sessionExpiry, int writesThatSurvive, Func<InProcessBroker, PowerCutStore, Task> act)
    {
        var store = new PowerCutStore(new MemoryBrokerStore());
        var topic = UniqueNames.Topic("will-cut");

        var before = await InProcessBroker.StartAsync(store: store);
        IReadOnlyList<string> held;
        try
        {
            await before.SubscribeOfflineAsync("will-sub", topic, QoS.AtLeastOnce, SubscriberSession);

            var will = new WillMessage
            {
                Topic = topic, Payload = "gone"u8.ToArray(), QoS = QoS.AtLeastOnce,
                Properties = new MqttProperties { WillDelayInterval = 10 },
            };
            var client = await MqttTestClient.ConnectNewAsync(before.Port, ProtocolVersion.V500, WillClient,
                properties: new MqttProperties { SessionExpiryInterval = sessionExpiry }, will: will);
            await client.AbortAsync();
            // Not only offline: the broker marks the session offline before it stores the pending will, and a hold in
            // between would keep the will itself from the disk.
            await Eventually.Assert(() => store.DiskSnapshot().Sessions.Any(s => s.Session.ClientId == WillClient && s.Session.PendingWill is not null),
                "the pending will is on the disk");

            store.Hold();
            await act(before, store);
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
        var (resumed, delivered) = await RecoveredSession.ResumeAndReceiveAsync(after.Port, "will-sub", SubscriberSession,
            PowerCutStore.Describe(held, writesThatSurvive));
        await using var resumedClient = resumed;
        Assert.Equal("gone", System.Text.Encoding.UTF8.GetString(delivered.Payload.Span));
    }
}
