using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Storage;
using Gatehouse.Testing;

namespace Gatehouse.Broker.Tests.InProcess;

/// <summary>
/// The will of a client whose session outlives its connection, connected when the broker crashes: the crash closes its
/// connection without DISCONNECT, so the restarted broker publishes the will after its delay, or at once when the
/// session's expiry is the shorter [MQTT-3.1.2-8] [MQTT-3.1.3-9]. A will that a closing connection sends out must survive
/// a crash that follows at once whichever of its writes reached the disk; a normal DISCONNECT or a graceful shutdown
/// discards it for good.
/// </summary>
public sealed class ArmedWillCrashTests
{
    private const string WillClient = "armed-will-client";
    private static readonly MqttProperties SubscriberSession = new() { SessionExpiryInterval = 600 };
    private static readonly MqttProperties WillClientSession = new() { SessionExpiryInterval = 600 };

    [Theory]
    [InlineData(600u, 0u)]
    [InlineData(600u, 10u)]
    [InlineData(5u, 10u)]
    [InlineData(uint.MaxValue, 0u)]
    public async Task The_will_of_a_client_connected_at_the_crash_is_published_after_the_restart(uint sessionExpiry, uint willDelay)
    {
        var store = new PowerCutStore(new MemoryBrokerStore());
        var topic = UniqueNames.Topic("armed-will");
        await using (var before = await InProcessBroker.StartAsync(store: store))
        {
            await before.SubscribeOfflineAsync("armed-sub", topic, QoS.AtLeastOnce, SubscriberSession);
            await using var client = await before.ConnectAsync(WillClient, properties: new MqttProperties { SessionExpiryInterval = sessionExpiry },
                will: Will(topic, willDelay));
            // CONNACK came: the will is on the disk. The power goes now, with the client still connected.
            store.Hold();
            store.CutPower(0);
        }

        await using var after = await InProcessBroker.StartAsync(store: store.Disk);
        var subscriber = await MqttTestClient.OpenAsync(after.Port, ProtocolVersion.V500, "armed-sub");
        await using var _ = subscriber;
        await subscriber.ConnectAsync("armed-sub", cleanStart: false, keepAlive: 0, SubscriberSession);
        // The delay counts from the restart (the session's expiry, when shorter, ends it first and sends the will then).
        var due = Math.Min(willDelay, sessionExpiry);
        if (due > 0)
        {
            after.Clock.Advance(TimeSpan.FromSeconds(due - 1));
            after.Clock.RunDueTimers();
            await subscriber.ExpectNoPacketAsync(TimeSpan.FromMilliseconds(300));
            after.Clock.Advance(TimeSpan.FromSeconds(1));
        }
        after.Clock.RunDueTimers();
        PublishPacket delivered;
        try
        {
            delivered = await subscriber.ReceivePublishAsync(TimeSpan.FromSeconds(10));
        }
        catch (MqttTestException)
        {
            Assert.Fail($"the will of a client connected at the crash (expiry {sessionExpiry}, delay {willDelay}) never came");
            throw;
        }
        Assert.Equal("gone", System.Text.Encoding.UTF8.GetString(delivered.Payload.Span));
        // Its Message Expiry Interval (60 s) counts from its publication, not from the CONNECT that gave it.
        Assert.Equal(60u, delivered.Properties?.MessageExpiryInterval);
        await subscriber.AckAsync(delivered);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public async Task A_will_sent_as_its_connection_closes_survives_a_crash_whichever_writes_reached_the_disk(int writesThatSurvive)
    {
        var store = new PowerCutStore(new MemoryBrokerStore());
        var topic = UniqueNames.Topic("closing-will");
        IReadOnlyList<string> held;
        await using (var before = await InProcessBroker.StartAsync(store: store))
        {
            await before.SubscribeOfflineAsync("closing-sub", topic, QoS.AtLeastOnce, SubscriberSession);
            var client = await before.ConnectAsync(WillClient, properties: WillClientSession, will: Will(topic, delaySeconds: 0));
            store.Hold();
            await client.AbortAsync();
            // The will's queue entry for the subscriber, and the session's will-less record.
            await Eventually.Assert(() => store.Held.Contains("Enqueue") && store.Held.Contains("SaveSession"),
                "the will and the session's change reached the store");
            await Task.Delay(200); // anything else the close writes
            held = store.Held;
            store.CutPower(writesThatSurvive);
        }

        await using var after = await InProcessBroker.StartAsync(store: store.Disk);
        after.Clock.Advance(TimeSpan.FromSeconds(1));
        after.Clock.RunDueTimers();
        var (resumed, delivered) = await RecoveredSession.ResumeAndReceiveAsync(after.Port, "closing-sub", SubscriberSession,
            PowerCutStore.Describe(held, writesThatSurvive));
        await using var _ = resumed;
        Assert.Equal("gone", System.Text.Encoding.UTF8.GetString(delivered.Payload.Span));
    }

    public enum Ending
    {
        /// <summary>DISCONNECT 0x00 discards the will [MQTT-3.1.2-10].</summary>
        NormalDisconnect,
        /// <summary>The broker shuts down: the clients did not fail, so no will goes out, then or after the restart.</summary>
        GracefulShutdown,
    }

    [Theory]
    [InlineData(Ending.NormalDisconnect)]
    [InlineData(Ending.GracefulShutdown)]
    public async Task A_discarded_will_stays_discarded_after_a_restart(Ending ending)
    {
        var store = new PowerCutStore(new MemoryBrokerStore());
        var topic = UniqueNames.Topic("discarded-will");
        MqttTestClient client;
        await using (var before = await InProcessBroker.StartAsync(store: store))
        {
            await before.SubscribeOfflineAsync("discard-sub", topic, QoS.AtLeastOnce, SubscriberSession);
            client = await before.ConnectAsync(WillClient, properties: WillClientSession, will: Will(topic, delaySeconds: 0));
            Assert.NotNull(ArmedWillOnDisk(store));
            if (ending == Ending.NormalDisconnect)
            {
                await client.DisconnectAsync();
                await Eventually.Assert(() => ArmedWillOnDisk(store) is null, "the discarded will is gone from the disk");
                // Then the crash.
                store.Hold();
                store.CutPower(0);
            }
            // GracefulShutdown: disposing the broker shuts it down with the client still connected.
        }
        await client.DisposeAsync();
        Assert.Null(ArmedWillOnDisk(store));

        await using var after = await InProcessBroker.StartAsync(store: store.Disk);
        after.Clock.Advance(TimeSpan.FromSeconds(5));
        after.Clock.RunDueTimers();
        var subscriber = await MqttTestClient.OpenAsync(after.Port, ProtocolVersion.V500, "discard-sub");
        await using var _ = subscriber;
        await subscriber.ConnectAsync("discard-sub", cleanStart: false, keepAlive: 0, SubscriberSession);
        await subscriber.ExpectNoPacketAsync(TimeSpan.FromMilliseconds(500));
    }

    private static WillMessage Will(string topic, uint delaySeconds) => new()
    {
        Topic = topic, Payload = "gone"u8.ToArray(), QoS = QoS.AtLeastOnce,
        Properties = new MqttProperties { WillDelayInterval = delaySeconds, MessageExpiryInterval = 60 },
    };

    private static ArmedWillRecord? ArmedWillOnDisk(PowerCutStore store) =>
        store.DiskSnapshot().Sessions.FirstOrDefault(s => s.Session.ClientId == WillClient)?.Session.ArmedWill;
}
