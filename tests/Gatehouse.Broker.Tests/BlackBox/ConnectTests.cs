using System.Diagnostics;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.BlackBox;

/// <summary>A server with a short first-CONNECT deadline.</summary>
public sealed class ConnectServer : ServerFixture
{
    protected override ServerProcessOptions Options => new() { Arguments = ["--Broker:ConnectTimeoutSeconds=2"] };
}

/// <summary>CONNECT / CONNACK: acceptance, session present, clean start, client identifiers, takeover, deadlines, keep-alive.</summary>
public sealed class ConnectTests(ConnectServer fixture, ITestOutputHelper output)
    : BlackBoxTest(fixture, output), IClassFixture<ConnectServer>
{
    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task CleanConnect_IsAcceptedWithoutSessionPresent(ProtocolVersion version)
    {
        // [MQTT-3.2.2-1] (3.1.1) / [MQTT-3.2.2-2] (5.0): Clean Start 1 → Session Present 0.
        var (_, connAck) = await ConnectRawAsync(version, NewClientId(), cleanStart: true);
        Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        Assert.False(connAck.SessionPresent);
    }

    [Fact]
    public async Task V311_ConnAck_HasExactBytes()
    {
        // [MQTT-3.2.2-1]: CONNACK 20 02 00 00 for an accepted clean session.
        var client = await OpenAsync(ProtocolVersion.V311);
        await client.SendAsync(new ConnectPacket { ProtocolVersion = ProtocolVersion.V311, ClientId = NewClientId(), CleanStart = true, KeepAliveSeconds = 60 });
        Assert.Equal("20020000", Convert.ToHexString(await client.ReceiveRawAsync()));
    }

    [Fact]
    public async Task V310_MQIsdpConnect_IsAccepted()
    {
        var (client, connAck) = await ConnectRawAsync(ProtocolVersion.V310, NewClientId(), cleanStart: true);
        Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        await client.PingAsync();
    }

    [Fact]
    public async Task V5_ConnAck_AnnouncesTruthfulCapabilitiesAndLimits()
    {
        var (client, connAck) = await ConnectRawAsync(ProtocolVersion.V500, NewClientId(), cleanStart: true);
        Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        var p = connAck.Properties ?? new MqttProperties();
        // Absent means "supported" / the maximum [MQTT-3.2.2-9..]; present must say the truth.
        Assert.True(p.MaximumQoS is null or 2, $"MaximumQoS {p.MaximumQoS}");
        Assert.True(p.RetainAvailable is null or 1, $"RetainAvailable {p.RetainAvailable}");
        Assert.True(p.WildcardSubscriptionAvailable is null or 1, $"WildcardSubscriptionAvailable {p.WildcardSubscriptionAvailable}");
        Assert.True(p.SubscriptionIdentifierAvailable is null or 1, $"SubscriptionIdentifierAvailable {p.SubscriptionIdentifierAvailable}");
        Assert.True(p.SharedSubscriptionAvailable is null or 1, $"SharedSubscriptionAvailable {p.SharedSubscriptionAvailable}");
        // BrokerOptions defaults: ReceiveMaximum 1024, MaxPacketSize 1 MiB, TopicAliasMaximum 1024.
        Assert.Equal((ushort)1024, p.ReceiveMaximum);
        Assert.Equal(1024u * 1024, p.MaximumPacketSize);
        Assert.Equal((ushort)1024, p.TopicAliasMaximum);
        Assert.Null(p.AssignedClientIdentifier);
        Assert.Null(p.ResponseInformation);

        // ... and the capabilities really work: wildcard, shared and subscription-identifier subscriptions at QoS 2.
        var topic = NewTopic();
        var subAck = await client.SubscribeAsync(
            [
                new TopicSubscription { TopicFilter = topic + "/+", MaximumQoS = QoS.ExactlyOnce },
                new TopicSubscription { TopicFilter = $"$share/g/{topic}/#", MaximumQoS = QoS.ExactlyOnce },
            ],
            new MqttProperties { SubscriptionIdentifiers = [7] });
        Assert.Equal([ReasonCode.GrantedQoS2, ReasonCode.GrantedQoS2], subAck.ReasonCodes);
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task SessionPresent_IsSetWhenAStoredSessionIsResumed(ProtocolVersion version)
    {
        // [MQTT-3.2.2-2] (3.1.1) / [MQTT-3.2.2-3] (5.0).
        var id = NewClientId();
        var first = await ConnectPersistentAsync(version, id);
        await first.DisconnectAsync();

        var props = version == ProtocolVersion.V500 ? new MqttProperties { SessionExpiryInterval = 300 } : null;
        var (_, connAck) = await ConnectRawAsync(version, id, cleanStart: false, props);
        Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        Assert.True(connAck.SessionPresent);
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task SessionPresent_IsClearWhenNoSessionWasStored(ProtocolVersion version)
    {
        var props = version == ProtocolVersion.V500 ? new MqttProperties { SessionExpiryInterval = 300 } : null;
        var (_, connAck) = await ConnectRawAsync(version, NewClientId(), cleanStart: false, props);
        Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        Assert.False(connAck.SessionPresent);
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task CleanStart_DiscardsTheStoredSession(ProtocolVersion version)
    {
        // [MQTT-3.1.2-6] (3.1.1) / [MQTT-3.1.2-4] (5.0): Clean Start 1 discards any existing session.
        var id = NewClientId();
        var topic = NewTopic();
        var first = await ConnectPersistentAsync(version, id);
        await first.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        await first.DisconnectAsync();

        var (second, connAck) = await ConnectRawAsync(version, id, cleanStart: true);
        Assert.False(connAck.SessionPresent);

        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "must not arrive", QoS.AtLeastOnce);
        await second.ExpectNoPacketAsync();
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task Takeover_ClosesTheOldConnection_V5GetsSessionTakenOver(ProtocolVersion version)
    {
        // [MQTT-3.1.4-2] (3.1.1) / [MQTT-3.1.4-3] (5.0): the existing client is disconnected (0x8E in 5.0).
        var id = NewClientId();
        var old = await ConnectAsync(version, id);
        var (_, connAck) = await ConnectRawAsync(version, id, cleanStart: true);
        Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        await old.ExpectDisconnectAndCloseAsync(ReasonCode.SessionTakenOver);
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task Takeover_WithoutCleanStart_ContinuesTheSession(ProtocolVersion version)
    {
        var id = NewClientId();
        var topic = NewTopic();
        var old = await ConnectPersistentAsync(version, id);
        await old.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);

        var props = version == ProtocolVersion.V500 ? new MqttProperties { SessionExpiryInterval = 300 } : null;
        var (taker, connAck) = await ConnectRawAsync(version, id, cleanStart: false, props);
        Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        Assert.True(connAck.SessionPresent);
        Assert.True(await old.WaitForCloseAsync());

        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "to the new connection", QoS.AtLeastOnce);
        var received = await taker.ReceivePublishAsync();
        Assert.Equal(topic, received.Topic);
        Assert.Equal("to the new connection", Text(received.Payload));
    }

    [Fact]
    public async Task SocketWithoutConnect_IsClosedAfterTheConnectDeadline()
    {
        // ConnectTimeoutSeconds = 2 on this server. The clock starts before the socket opens, which the server's deadline
        // cannot precede: a pause of the loaded test process then only lengthens what is measured. Nothing arrives before
        // the close (PacketsBeforeClose) and the close is not early (the lower bound); a quiet window of its own after
        // the open would be ended by the deadline if this process paused for a second.
        var clock = Stopwatch.StartNew();
        var client = await OpenAsync(ProtocolVersion.V500);
        Assert.True(await client.WaitForCloseAsync(TimeSpan.FromSeconds(8)), "the idle socket was not closed");
        Assert.Empty(client.PacketsBeforeClose);
        Assert.InRange(clock.Elapsed.TotalSeconds, 1.5, 8);
    }

    [Fact]
    public async Task PartialConnect_IsClosedAfterTheConnectDeadline()
    {
        var client = await OpenAsync(ProtocolVersion.V500);
        var connect = MqttTestClient.Encode(new ConnectPacket { ProtocolVersion = ProtocolVersion.V500, ClientId = NewClientId(), CleanStart = true }, ProtocolVersion.V500);
        await client.SendAsync(connect[..5]);
        Assert.True(await client.WaitForCloseAsync(TimeSpan.FromSeconds(8)), "a socket that never completed CONNECT was not closed");
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task KeepAlive_SilentClientIsDisconnectedAfterOneAndAHalfPeriods(ProtocolVersion version)
    {
        // [MQTT-3.1.2-24] (3.1.1) / [MQTT-3.1.2-22] (5.0); 5.0 gets DISCONNECT 0x8D first. The clock starts before
        // CONNECT, which the server's period cannot precede (it counts from its CONNACK): a slow start of this process
        // then only lengthens what is measured, instead of eating into a quiet window after CONNACK.
        var clock = Stopwatch.StartNew();
        var client = await ConnectAsync(version, keepAlive: 1);
        if (version == ProtocolVersion.V500)
        {
            var disconnect = await client.ReceiveAsync<DisconnectPacket>(TimeSpan.FromSeconds(5));
            Assert.Equal(ReasonCode.KeepAliveTimeout, disconnect.ReasonCode);
        }
        Assert.True(await client.WaitForCloseAsync(TimeSpan.FromSeconds(5)), "the silent client was not disconnected");
        Assert.Empty(client.PacketsBeforeClose);
        Assert.InRange(clock.Elapsed.TotalSeconds, 1.5, 6);
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task KeepAlive_PingsKeepTheConnectionOpen(ProtocolVersion version)
    {
        // [MQTT-3.12.4-1]: PINGREQ → PINGRESP, and the keep-alive timer restarts: pinging for over twice the 1.5 s the
        // server allows without a packet keeps the connection open. A ping every 150 ms puts ten of them in that 1.5 s, so
        // a pause of the loaded test process cannot pass for a silent client (with 600 ms steps, 0.9 s could).
        var client = await ConnectAsync(version, keepAlive: 1);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(3.2))
        {
            await client.SendAsync(PingReqPacket.Instance);
            await client.ReceiveAsync<PingRespPacket>();
            // Nothing else comes meanwhile (no DISCONNECT, no close): the reply window is our clock.
            await client.ExpectNoPacketAsync(TimeSpan.FromMilliseconds(150));
        }
        await client.PingAsync();
    }

    [Fact]
    public async Task V5_ConnAcks_CarryOnlyTheirOwnProperties_WhetherPlainOrNot()
    {
        // Plain CONNACKs share one set of properties: a CONNACK with an assigned id or response information in between
        // must neither change what the plain ones say nor take theirs.
        var (_, plainBefore) = await ConnectRawAsync(ProtocolVersion.V500, NewClientId(), cleanStart: true);
        var (_, assigned) = await ConnectRawAsync(ProtocolVersion.V500, "", cleanStart: true,
            new MqttProperties { RequestResponseInformation = 1 });
        var (_, plainAfter) = await ConnectRawAsync(ProtocolVersion.V500, NewClientId(), cleanStart: true);

        Assert.False(string.IsNullOrEmpty(assigned.Properties?.AssignedClientIdentifier));
        Assert.StartsWith("$response/", assigned.Properties!.ResponseInformation);
        foreach (var plain in new[] { plainBefore, plainAfter })
        {
            Assert.Equal(ReasonCode.Success, plain.ReasonCode);
            Assert.Null(plain.Properties!.AssignedClientIdentifier);
            Assert.Null(plain.Properties.ResponseInformation);
            Assert.Null(plain.Properties.SessionExpiryInterval);
            Assert.Equal((ushort)1024, plain.Properties.ReceiveMaximum);
        }
    }

    [Fact]
    public async Task V5_EmptyClientId_IsAssignedAUniqueIdentifier()
    {
        // [MQTT-3.1.3-6], [MQTT-3.2.2-16]: zero-length ClientID gets an Assigned Client Identifier.
        var props = new MqttProperties { SessionExpiryInterval = 60 };
        var (first, ack1) = await ConnectRawAsync(ProtocolVersion.V500, "", cleanStart: true, props);
        var (_, ack2) = await ConnectRawAsync(ProtocolVersion.V500, "", cleanStart: true);
        Assert.Equal(ReasonCode.Success, ack1.ReasonCode);
        Assert.Equal(ReasonCode.Success, ack2.ReasonCode);
        var id1 = ack1.Properties?.AssignedClientIdentifier;
        var id2 = ack2.Properties?.AssignedClientIdentifier;
        Assert.False(string.IsNullOrEmpty(id1));
        Assert.False(string.IsNullOrEmpty(id2));
        Assert.NotEqual(id1, id2);

        // The assigned identifier names a real session.
        await first.DisconnectAsync();
        var (_, resumed) = await ConnectRawAsync(ProtocolVersion.V500, id1!, cleanStart: false, new MqttProperties { SessionExpiryInterval = 60 });
        Assert.True(resumed.SessionPresent);
    }

    [Fact]
    public async Task V311_EmptyClientId_WithCleanSession_IsAccepted()
    {
        // [MQTT-3.1.3-6], [MQTT-3.1.3-7].
        var (client, connAck) = await ConnectRawAsync(ProtocolVersion.V311, "", cleanStart: true);
        Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        Assert.False(connAck.SessionPresent);
        await client.PingAsync();
    }

    [Fact]
    public async Task V311_EmptyClientId_WithoutCleanSession_IsRejectedWithIdentifierRejected()
    {
        // [MQTT-3.1.3-8]: CONNACK return code 0x02, then close [MQTT-3.2.2-5].
        var client = await OpenAsync(ProtocolVersion.V311);
        await client.SendAsync(new ConnectPacket { ProtocolVersion = ProtocolVersion.V311, ClientId = "", CleanStart = false, KeepAliveSeconds = 60 });
        Assert.Equal("20020002", Convert.ToHexString(await client.ReceiveRawAsync()));
        await client.ExpectCloseAsync();
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task SecondConnect_IsAProtocolViolation(ProtocolVersion version)
    {
        // [MQTT-3.1.0-2]: a second CONNECT is a protocol violation (5.0: 0x82) and the connection is closed.
        var id = NewClientId();
        var client = await ConnectAsync(version, id);
        await client.SendAsync(new ConnectPacket { ProtocolVersion = version, ClientId = id, CleanStart = true, KeepAliveSeconds = 60 });
        await client.ExpectDisconnectAndCloseAsync(ReasonCode.ProtocolError);
    }

    [Fact]
    public async Task FirstPacketOtherThanConnect_ClosesTheConnection()
    {
        // [MQTT-3.1.0-1]: the first packet must be CONNECT. PINGREQ first gets no PINGRESP, only the close.
        var client = await OpenAsync(ProtocolVersion.V311);
        await client.SendAsync([0xC0, 0x00]);
        await client.ExpectCloseAsync();
    }

    [Fact]
    public async Task UnsupportedProtocolLevel_IsRefusedThenClosed()
    {
        // [MQTT-3.1.2-2] (3.1.1): level 6 → CONNACK 0x01 then close; a 5.0-style CONNACK 0x84 is also acceptable.
        var client = await OpenAsync(ProtocolVersion.V311);
        byte[] connect = [0x10, 0x0D, 0x00, 0x04, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 0x06, 0x02, 0x00, 0x3C, 0x00, 0x01, (byte)'x'];
        await client.SendAsync(connect);
        var reply = Convert.ToHexString(await client.ReceiveRawAsync());
        Assert.Contains(reply, new[] { "20020001", "2003008400" });
        Assert.True(await client.WaitForCloseAsync());
    }

    [Fact]
    public async Task V5_RequestResponseInformation_IsAnsweredOnlyWhenRequested()
    {
        // [MQTT-3.1.2-28]: no Response Information unless requested.
        var id = NewClientId();
        var (_, asked) = await ConnectRawAsync(ProtocolVersion.V500, id, cleanStart: true, new MqttProperties { RequestResponseInformation = 1 });
        Assert.Equal(ReasonCode.Success, asked.ReasonCode);
        Assert.False(string.IsNullOrEmpty(asked.Properties?.ResponseInformation));
        Assert.StartsWith("$response/", asked.Properties!.ResponseInformation, StringComparison.Ordinal);

        var (_, notAsked) = await ConnectRawAsync(ProtocolVersion.V500, NewClientId(), cleanStart: true, new MqttProperties { RequestResponseInformation = 0 });
        Assert.Null(notAsked.Properties?.ResponseInformation);
    }

    [Fact]
    public async Task V5_RequestProblemInformation0_SuppressesReasonStringsOnAcks()
    {
        // [MQTT-3.1.2-29]: with Request Problem Information 0 no Reason String / User Property except on PUBLISH, CONNACK, DISCONNECT.
        var (client, _) = await ConnectRawAsync(ProtocolVersion.V500, NewClientId(), cleanStart: true, new MqttProperties { RequestProblemInformation = 0 });
        // A filter over the broker's level limit (128) is refused alone, with 0x8F.
        var subAck = await client.SubscribeAsync(string.Join('/', Enumerable.Repeat("l", 129)), QoS.AtLeastOnce);
        Assert.Equal([ReasonCode.TopicFilterInvalid], subAck.ReasonCodes);
        Assert.Null(subAck.Properties?.ReasonString);
        Assert.Null(subAck.Properties?.UserProperties);

        // A refused PUBLISH (clients may not write $SYS) is acknowledged without a Reason String too.
        var ack = await client.PublishAsync("$SYS/forged", "x", QoS.AtLeastOnce);
        Assert.True((byte)ack!.ReasonCode >= 0x80, $"publishing to $SYS was accepted: {PacketFormatter.Describe(ack)}");
        Assert.Null(ack.Properties?.ReasonString);
    }
}

/// <summary>A server that caps keep-alive at 2 s (<c>--max-keep-alive 2</c>).</summary>
public sealed class MaxKeepAliveServer : ServerFixture
{
    protected override ServerProcessOptions Options => new() { Arguments = ["--max-keep-alive", "2"] };
}

/// <summary>Server Keep Alive [MQTT-3.2.2-21]: the server tells 5.0 clients the keep-alive it enforces.</summary>
public sealed class ServerKeepAliveTests(MaxKeepAliveServer fixture, ITestOutputHelper output)
    : BlackBoxTest(fixture, output), IClassFixture<MaxKeepAliveServer>
{
    [Theory]
    [InlineData((ushort)60)]
    [InlineData((ushort)0)]
    public async Task V5_KeepAliveAboveTheMaximum_IsReplacedByServerKeepAlive(ushort asked)
    {
        // [MQTT-3.2.2-21], [MQTT-3.2.2-22]: the client must use the Server Keep Alive, and the server enforces it.
        // The clock starts before CONNECT, which the server's period (from its CONNACK) cannot precede: a pause of the
        // loaded test process after the CONNACK then lengthens what is measured instead of shortening it.
        var clock = Stopwatch.StartNew();
        var (client, connAck) = await ConnectRawAsync(ProtocolVersion.V500, NewClientId(), cleanStart: true, keepAlive: asked);
        Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        Assert.Equal((ushort)2, connAck.Properties?.ServerKeepAlive);

        var disconnect = await client.ReceiveAsync<DisconnectPacket>(TimeSpan.FromSeconds(8));
        Assert.Equal(ReasonCode.KeepAliveTimeout, disconnect.ReasonCode);
        Assert.InRange(clock.Elapsed.TotalSeconds, 2.5, 8);
        Assert.True(await client.WaitForCloseAsync());
    }

    [Fact]
    public async Task V5_KeepAliveBelowTheMaximum_IsKept()
    {
        var (client, connAck) = await ConnectRawAsync(ProtocolVersion.V500, NewClientId(), cleanStart: true, keepAlive: 1);
        Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        Assert.True(connAck.Properties?.ServerKeepAlive is null or 1, $"ServerKeepAlive {connAck.Properties?.ServerKeepAlive}");
        await client.PingAsync();
    }
}

/// <summary>Graceful shutdown of the server process.</summary>
public sealed class ShutdownTests(ITestOutputHelper output) : BlackBoxTest(null, output)
{
    [Fact]
    public async Task Sigterm_SendsServerShuttingDownToV5Clients_AndClosesV311Clients()
    {
        var server = await StartServerAsync();
        var v5 = await ConnectAsync(ProtocolVersion.V500, server: server);
        var v311 = await ConnectAsync(ProtocolVersion.V311, server: server);

        var exitCode = await server.StopAsync(TimeSpan.FromSeconds(15));

        // 5.0 gets DISCONNECT 0x8B before the close; 3.1.1 only the close.
        await v5.ExpectDisconnectAndCloseAsync(ReasonCode.ServerShuttingDown);
        await v311.ExpectCloseAsync();
        Assert.Equal(0, exitCode);
    }
}
