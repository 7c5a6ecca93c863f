using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.BlackBox;

/// <summary>Session lifetime: Clean Session (3.1.1), Session Expiry Interval 0 / N / changed at DISCONNECT (5.0), state kept across connections.</summary>
public sealed class SessionsAndExpiryTests(ServerFixture fixture, ITestOutputHelper output)
    : BlackBoxTest(fixture, output), IClassFixture<ServerFixture>
{
    private static MqttProperties Expiry(uint seconds) => new() { SessionExpiryInterval = seconds };

    /// <summary>
    /// Whether a probe published to <paramref name="topic"/> reaches <paramref name="resumed"/>. Where it should, the
    /// wait is long (a loaded machine must not turn a slow delivery into a lost subscription); where it should not, a
    /// short quiet window says so.
    /// </summary>
    private async Task<bool> SubscriptionSurvivedAsync(ProtocolVersion version, MqttTestClient resumed, string topic, bool expected)
    {
        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "probe", QoS.AtLeastOnce);
        try
        {
            var p = await resumed.ReceivePublishAsync(TimeSpan.FromMilliseconds(expected ? 10_000 : 700));
            return Text(p.Payload) == "probe";
        }
        catch (MqttTestException)
        {
            return false;
        }
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task PersistentSession_KeepsSubscriptionsAcrossConnections(ProtocolVersion version)
    {
        // [MQTT-3.1.2-4] (3.1.1) / [MQTT-4.1.0-1]: the session state includes subscriptions.
        var id = NewClientId();
        var topic = NewTopic();
        var first = await ConnectPersistentAsync(version, id);
        await first.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        await first.DisconnectAsync();

        var resumed = await ConnectPersistentAsync(version, id);
        Assert.True(await SubscriptionSurvivedAsync(version, resumed, topic, expected: true), "the subscription was lost");
    }

    [Fact]
    public async Task V311_CleanSession1_SessionEndsWithTheConnection()
    {
        // [MQTT-3.1.2-6] (3.1.1): a clean session lasts as long as the network connection.
        var id = NewClientId();
        var topic = NewTopic();
        var first = await ConnectAsync(ProtocolVersion.V311, id, cleanStart: true);
        await first.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        await first.DisconnectAsync();

        var (second, connAck) = await ConnectRawAsync(ProtocolVersion.V311, id, cleanStart: false);
        Assert.False(connAck.SessionPresent);
        Assert.False(await SubscriptionSurvivedAsync(ProtocolVersion.V311, second, topic, expected: false), "the clean session's subscription survived");
    }

    [Theory]
    [InlineData(ProtocolVersion.V311)]
    [InlineData(ProtocolVersion.V500)]
    public async Task A_taken_over_session_with_expiry_0_ends_with_its_connection_and_is_not_resumed(ProtocolVersion version)
    {
        // [MQTT-3.1.2-6] / [MQTT-3.1.2-23]: the takeover ends the old network connection, and a session with expiry 0
        // (3.1.1 clean session) ends with it, even though the new CONNECT asks to resume.
        var id = NewClientId();
        var topic = NewTopic();
        var first = await ConnectAsync(version, id, cleanStart: true);
        await first.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);

        var (second, connAck) = await ConnectRawAsync(version, id, cleanStart: false, version == ProtocolVersion.V500 ? Expiry(60) : null);
        Assert.False(connAck.SessionPresent);
        Assert.True(await first.WaitForCloseAsync(), "the taken-over connection stayed open");
        Assert.False(await SubscriptionSurvivedAsync(version, second, topic, expected: false), "the taken-over session's subscription survived");
    }

    [Fact]
    public async Task V5_SessionExpiry0_SessionEndsWithTheConnection()
    {
        // [MQTT-3.1.2-23]: absent / 0 → the session ends when the network connection closes.
        var id = NewClientId();
        var topic = NewTopic();
        var first = await ConnectAsync(ProtocolVersion.V500, id, cleanStart: false);
        await first.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        await first.DisconnectAsync();

        var (second, connAck) = await ConnectRawAsync(ProtocolVersion.V500, id, cleanStart: false, Expiry(60));
        Assert.False(connAck.SessionPresent);
        Assert.False(await SubscriptionSurvivedAsync(ProtocolVersion.V500, second, topic, expected: false), "the expired session's subscription survived");
    }

    [Fact]
    public async Task V5_SessionExpiryN_SessionSurvivesUntilTheIntervalPasses()
    {
        // [MQTT-3.1.2-23]: the session is kept for the Session Expiry Interval after the close, then discarded. The
        // interval (3 s) leaves the resumption of `kept` (a DISCONNECT round trip and a CONNECT after its close) room for a
        // pause of the loaded test process; with 1 s, a pause of a second made a kept session look expired.
        var kept = NewClientId();
        var expires = NewClientId();
        var a = await ConnectAsync(ProtocolVersion.V500, kept, cleanStart: false, properties: Expiry(3));
        var b = await ConnectAsync(ProtocolVersion.V500, expires, cleanStart: false, properties: Expiry(3));
        await a.DisconnectAsync();
        await b.DisconnectAsync();

        var (_, soon) = await ConnectRawAsync(ProtocolVersion.V500, kept, cleanStart: false, Expiry(3));
        Assert.True(soon.SessionPresent, "the session was gone before its expiry interval");

        // Probing would restart the expiry timer, so wait the interval out once (the time is what is under test).
        await Task.Delay(TimeSpan.FromSeconds(4.5));
        var (_, late) = await ConnectRawAsync(ProtocolVersion.V500, expires, cleanStart: false, Expiry(0));
        Assert.False(late.SessionPresent, "the session did not expire");
    }

    [Fact]
    public async Task V5_SessionExpiryMax_IsKept()
    {
        // 0xFFFFFFFF: the session does not expire.
        var id = NewClientId();
        var first = await ConnectAsync(ProtocolVersion.V500, id, cleanStart: false, properties: Expiry(uint.MaxValue));
        await first.DisconnectAsync();
        var (_, connAck) = await ConnectRawAsync(ProtocolVersion.V500, id, cleanStart: false, Expiry(uint.MaxValue));
        Assert.True(connAck.SessionPresent);
    }

    [Fact]
    public async Task V5_DisconnectCanShortenTheSessionExpiryToZero()
    {
        // [MQTT-3.14.2-?]: the Session Expiry Interval in DISCONNECT replaces the CONNECT one.
        var id = NewClientId();
        var first = await ConnectAsync(ProtocolVersion.V500, id, cleanStart: false, properties: Expiry(300));
        await first.DisconnectAsync(ReasonCode.NormalDisconnection, Expiry(0));
        var (_, connAck) = await ConnectRawAsync(ProtocolVersion.V500, id, cleanStart: false, Expiry(300));
        Assert.False(connAck.SessionPresent);
    }

    [Fact]
    public async Task V5_DisconnectCanExtendANonZeroSessionExpiry()
    {
        var id = NewClientId();
        var first = await ConnectAsync(ProtocolVersion.V500, id, cleanStart: false, properties: Expiry(1));
        await first.DisconnectAsync(ReasonCode.NormalDisconnection, Expiry(300));
        await Task.Delay(TimeSpan.FromSeconds(2.2)); // longer than the original interval is what we test
        var (_, connAck) = await ConnectRawAsync(ProtocolVersion.V500, id, cleanStart: false, Expiry(300));
        Assert.True(connAck.SessionPresent);
    }

    [Fact]
    public async Task V5_DisconnectSettingExpiryAfterConnectingWithZero_IsAProtocolError()
    {
        // [MQTT-3.14.2-2]: Session Expiry 0 at CONNECT cannot become non-zero at DISCONNECT → server DISCONNECT 0x82.
        var client = await ConnectAsync(ProtocolVersion.V500, cleanStart: true);
        await client.SendAsync(new DisconnectPacket { ReasonCode = ReasonCode.NormalDisconnection, Properties = Expiry(60) });
        await client.ExpectDisconnectAndCloseAsync(ReasonCode.ProtocolError);
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task ResumedSession_KeepsQueuedQos2AndQos1MessagesInOrder(ProtocolVersion version)
    {
        var id = NewClientId();
        var topic = NewTopic();
        var subscriber = await ConnectPersistentAsync(version, id);
        await subscriber.SubscribeGrantedAsync(topic, QoS.ExactlyOnce);
        await subscriber.DisconnectAsync();

        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "a", QoS.ExactlyOnce);
        await publisher.PublishAsync(topic, "b", QoS.AtLeastOnce);
        await publisher.PublishAsync(topic, "c", QoS.ExactlyOnce);

        var resumed = await ConnectPersistentAsync(version, id);
        var received = await resumed.ReceivePublishesAsync(3);
        Assert.Equal(["a", "b", "c"], received.Select(p => Text(p.Payload)));
        Assert.Equal([QoS.ExactlyOnce, QoS.AtLeastOnce, QoS.ExactlyOnce], received.Select(p => p.QoS));
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task PersistentSessionAfterAbnormalClose_IsKept(ProtocolVersion version)
    {
        var id = NewClientId();
        var first = await ConnectPersistentAsync(version, id);
        await first.AbortAsync();
        var props = version == ProtocolVersion.V500 ? Expiry(300) : null;
        // The server may not have noticed the reset yet; either way the session must be present.
        var (_, connAck) = await ConnectRawAsync(version, id, cleanStart: false, props);
        Assert.True(connAck.SessionPresent);
    }

    [Fact]
    public async Task SessionStartedWithV311_CanBeResumedWithV5()
    {
        // The session outlives the protocol version of the connection that created it.
        var id = NewClientId();
        var topic = NewTopic();
        var v311 = await ConnectPersistentAsync(ProtocolVersion.V311, id);
        await v311.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        await v311.DisconnectAsync();
        var publisher = await ConnectAsync(ProtocolVersion.V311);
        await publisher.PublishAsync(topic, "queued while offline", QoS.AtLeastOnce);

        var (v5, connAck) = await ConnectRawAsync(ProtocolVersion.V500, id, cleanStart: false, Expiry(300));
        Assert.True(connAck.SessionPresent);
        var received = await v5.ReceivePublishAsync();
        Assert.Equal("queued while offline", Text(received.Payload));
        Assert.Equal(QoS.AtLeastOnce, received.QoS);
    }
}
