using Gatehouse.Protocol;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.BlackBox;

/// <summary>A server with small limits everywhere.</summary>
public sealed class TightLimitsServer : ServerFixture
{
    public const uint MaxPacketSize = 2048;

    /// <summary>The server's arguments (for a test that needs a server of its own with one more).</summary>
    public static readonly string[] Arguments =
    [
        "--max-packet-size", MaxPacketSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
        "--Broker:MaxQueuedMessages=5",
        "--Broker:MaxSubscriptionsPerSession=3",
        "--Broker:MaxTopicLevels=5",
        "--Broker:MaxTopicLength=100",
        "--Broker:MaxInflightMessages=2",
    ];

    protected override ServerProcessOptions Options => new() { Arguments = Arguments };
}

/// <summary>Issue 2 item 8: every limit is enforced and reported to the client with the right code.</summary>
public sealed class LimitsTests(TightLimitsServer fixture, ITestOutputHelper output)
    : BlackBoxTest(fixture, output), IClassFixture<TightLimitsServer>
{
    private static PublishPacket PublishOfSize(int totalSize, string topic, ProtocolVersion version)
    {
        var packet = new PublishPacket { Topic = topic, QoS = QoS.AtLeastOnce, PacketId = 1 };
        var payload = totalSize - PacketWriter.GetSize(packet, version);
        while (true)
        {
            packet.Payload = new byte[payload];
            var size = PacketWriter.GetSize(packet, version);
            if (size == totalSize) return packet;
            payload -= size - totalSize;
        }
    }

    /// <summary>Acknowledges and collects publishes until none arrives for 2 s (long enough that a loaded machine's pause does not end it early).</summary>
    private static async Task<List<string>> DrainAsync(MqttTestClient client)
    {
        var payloads = new List<string>();
        while (true)
        {
            var done = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                if (!await client.WaitToReceiveAsync(done.Token)) throw new MqttTestException($"{client.Name}: closed by the server");
            }
            catch (OperationCanceledException)
            {
                return payloads;
            }
            finally
            {
                done.Dispose();
            }
            client.TryReceive(out var packet);
            var publish = packet as PublishPacket ?? throw new MqttTestException($"unexpected {PacketFormatter.Describe(packet)}");
            payloads.Add(Text(publish.Payload));
            await client.AckAsync(publish);
        }
    }

    [Fact]
    public async Task V5_ConnAck_AnnouncesTheMaximumPacketSize()
    {
        var (_, connAck) = await ConnectRawAsync(ProtocolVersion.V500, NewClientId(), cleanStart: true);
        Assert.Equal(TightLimitsServer.MaxPacketSize, connAck.Properties?.MaximumPacketSize);
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task InboundPacketAtTheMaximumSize_IsAccepted(ProtocolVersion version)
    {
        var publisher = await ConnectAsync(version);
        var publish = PublishOfSize((int)TightLimitsServer.MaxPacketSize, NewTopic(), version);
        await publisher.SendAsync(publish);
        Assert.Equal(1, (await publisher.ReceiveAsync<PubAckPacket>()).PacketId);
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task InboundPacketAboveTheMaximumSize_IsDisconnectedWith0x95(ProtocolVersion version)
    {
        // [MQTT-4.13.?] / 3.2.2.3.6: a packet larger than the announced Maximum Packet Size → DISCONNECT 0x95 (5.0), close (3.1.1).
        var bystander = await ConnectAsync(version);
        var publisher = await ConnectAsync(version);
        await publisher.SendAsync(PublishOfSize((int)TightLimitsServer.MaxPacketSize + 1, NewTopic(), version));
        await publisher.ExpectDisconnectAndCloseAsync(ReasonCode.PacketTooLarge);
        await bystander.PingAsync();
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task ConnectAboveTheMaximumPacketSize_IsRefused(ProtocolVersion version)
    {
        // A CONNECT larger than the limit is closed (5.0 may first get CONNACK 0x95).
        var client = await OpenAsync(version);
        await client.SendAsync(new ConnectPacket
        {
            ProtocolVersion = version, ClientId = NewClientId(), CleanStart = true, KeepAliveSeconds = 60,
            Will = new WillMessage { Topic = "big/will", Payload = new byte[3000] },
        });
        Assert.True(await client.WaitForCloseAsync(), "the oversized CONNECT was not refused");
        var packets = client.PacketsBeforeClose;
        if (packets.Count > 0)
        {
            Assert.Equal(ProtocolVersion.V500, version);
            Assert.Equal(ReasonCode.PacketTooLarge, Assert.IsType<ConnAckPacket>(Assert.Single(packets)).ReasonCode);
        }
    }

    [Fact]
    public async Task V5_OutboundPacketAboveTheClientsMaximum_IsNotSentToThatClient()
    {
        // [MQTT-3.1.2-24]: the server must not send packets larger than the client's Maximum Packet Size; the
        // message is discarded for that client only [MQTT-3.1.2-25], and the connection goes on.
        var topic = NewTopic();
        var small = await ConnectAsync(ProtocolVersion.V500, properties: new MqttProperties { MaximumPacketSize = 200 });
        await small.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        var large = await ConnectAsync(ProtocolVersion.V500);
        await large.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);

        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, new string('x', 500), QoS.AtLeastOnce);
        await publisher.PublishAsync(topic, "small", QoS.AtLeastOnce);

        var forSmall = await small.ReceivePublishAsync();
        Assert.Equal("small", Text(forSmall.Payload));
        await small.AckAsync(forSmall);
        await small.ExpectNoPacketAsync();

        var forLarge = await large.ReceivePublishesAsync(2);
        Assert.Equal(500, forLarge[0].Payload.Length);
        Assert.Equal("small", Text(forLarge[1].Payload));
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task MaxQueuedMessages_DropsMessagesBeyondTheQueueLimit(ProtocolVersion version)
    {
        // MaxQueuedMessages = 5 (plus at most MaxInflightMessages = 2 in flight): the rest is a counted drop.
        var id = NewClientId();
        var topic = NewTopic();
        var subscriber = await ConnectPersistentAsync(version, id);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        await subscriber.DisconnectAsync();

        var publisher = await ConnectAsync(version);
        for (var i = 0; i < 12; i++) await publisher.PublishAsync(topic, $"m{i:00}", QoS.AtLeastOnce);

        var resumed = await ConnectPersistentAsync(version, id);
        var received = await DrainAsync(resumed);
        Assert.InRange(received.Count, 5, 7);
        Assert.Equal(received.Order(StringComparer.Ordinal), received); // what was kept is still in order
        await resumed.PingAsync();
    }

    [Fact]
    public async Task MaxQueuedMessages_APublisherWhoseMessageAQueueRefused_IsToldQuotaExceeded()
    {
        // A 5.0 publisher is not given a success for a message a full queue dropped: PUBACK 0x97 with a reason string.
        var id = NewClientId();
        var topic = NewTopic();
        var subscriber = await ConnectPersistentAsync(ProtocolVersion.V500, id);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        await subscriber.DisconnectAsync();

        var publisher = await ConnectAsync(ProtocolVersion.V500);
        var codes = new List<ReasonCode>();
        for (var i = 0; i < 8; i++) codes.Add((await publisher.PublishAsync(topic, $"m{i}", QoS.AtLeastOnce))!.ReasonCode);

        Assert.Equal(Enumerable.Repeat(ReasonCode.Success, 5).Concat(Enumerable.Repeat(ReasonCode.QuotaExceeded, 3)), codes);
    }

    [Fact]
    public async Task ASlowConnectedSubscriber_HoldsThePublishersAcknowledgement_UntilItsQueueDrains()
    {
        // Backpressure: past half of MaxQueuedMessages (5) the PUBACK waits until the subscriber catches up, so a
        // publisher that respects its window slows down instead of overrunning the queue. A server of its own with a
        // BackpressureTimeoutMs of 10 s (the shared one has the default 1 s): the held PUBACK must not be released by
        // the stall timeout, which a pause of the loaded test process before the quiet window ends could reach with 1 s;
        // and only the subscriber catching up can release it within the PUBACK's 5 s wait.
        var server = await StartServerAsync([.. TightLimitsServer.Arguments, "--Broker:BackpressureTimeoutMs=10000"]);
        var topic = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V500, server: server);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        var publisher = await ConnectAsync(ProtocolVersion.V500, server: server);
        // m0, m1 in flight (MaxInflightMessages = 2), m2 queued: acknowledged at once.
        for (var i = 0; i < 3; i++) Assert.Equal(ReasonCode.Success, (await publisher.PublishAsync(topic, $"m{i}", QoS.AtLeastOnce))!.ReasonCode);

        // m3 takes the queue to its high-water mark (2): its PUBACK is held.
        await publisher.SendAsync(new PublishPacket { Topic = topic, Payload = Bytes("m3"), QoS = QoS.AtLeastOnce, PacketId = 77 });
        await publisher.ExpectNoPacketAsync(TimeSpan.FromMilliseconds(300));

        var inFlight = await subscriber.ReceivePublishesAsync(2);
        foreach (var publish in inFlight) await subscriber.AckAsync(publish);
        var ack = await publisher.ReceiveAsync<PubAckPacket>();
        Assert.Equal((ushort)77, ack.PacketId);
        Assert.Equal(ReasonCode.Success, ack.ReasonCode);
        var rest = await subscriber.ReceivePublishesAsync(2);
        Assert.Equal(["m0", "m1", "m2", "m3"], inFlight.Concat(rest).Select(p => Text(p.Payload)));
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task MaxInflightMessages_LimitsUnacknowledgedDeliveries(ProtocolVersion version)
    {
        // MaxInflightMessages = 2 caps the window for 3.1.1 clients too (they have no Receive Maximum).
        var topic = NewTopic();
        var subscriber = await ConnectAsync(version);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        var publisher = await ConnectAsync(version);
        for (var i = 0; i < 4; i++) await publisher.PublishAsync(topic, $"m{i}", QoS.AtLeastOnce);

        var first = await subscriber.ReceivePublishesAsync(2);
        await subscriber.ExpectNoPacketAsync();
        await subscriber.AckAsync(first[0]);
        await subscriber.AckAsync(first[1]);
        var rest = await subscriber.ReceivePublishesAsync(2);
        Assert.Equal(["m0", "m1", "m2", "m3"], first.Concat(rest).Select(p => Text(p.Payload)));
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task MaxSubscriptionsPerSession_RefusesFurtherFilters(ProtocolVersion version)
    {
        // 5.0: 0x97 Quota exceeded; 3.1.1: 0x80 failure. Replacing an existing filter still works.
        var root = NewTopic();
        var client = await ConnectAsync(version);
        for (var i = 0; i < 3; i++) await client.SubscribeGrantedAsync($"{root}/{i}");
        var refused = await client.SubscribeAsync($"{root}/3");
        Assert.Equal(version == ProtocolVersion.V500 ? ReasonCode.QuotaExceeded : ReasonCode.UnspecifiedError, Assert.Single(refused.ReasonCodes));
        await client.SubscribeGrantedAsync($"{root}/0", QoS.AtLeastOnce);
        await client.UnsubscribeAsync($"{root}/1");
        await client.SubscribeGrantedAsync($"{root}/3");
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task FilterWithTooManyLevelsOrCharacters_IsRefused(ProtocolVersion version)
    {
        // MaxTopicLevels = 5, MaxTopicLength = 100: 0x8F (5.0) / 0x80 (3.1.1).
        var client = await ConnectAsync(version);
        var subAck = await client.SubscribeAsync(
        [
            new TopicSubscription { TopicFilter = "a/b/c/d/e/f" },
            new TopicSubscription { TopicFilter = new string('t', 101) },
            new TopicSubscription { TopicFilter = "a/b/c/d/+" },
        ]);
        var failure = version == ProtocolVersion.V500 ? ReasonCode.TopicFilterInvalid : ReasonCode.UnspecifiedError;
        Assert.Equal([failure, failure, ReasonCode.GrantedQoS0], subAck.ReasonCodes);
    }

    [Fact]
    public async Task V5_PublishToATopicWithTooManyLevels_IsRefusedWith0x90()
    {
        // 0x90 Topic Name invalid, in the PUBACK or a DISCONNECT; not forwarded.
        var watcher = await ConnectAsync(ProtocolVersion.V500);
        await watcher.SubscribeGrantedAsync("lv/#");
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.SendAsync(new PublishPacket { Topic = "lv/2/3/4/5/6", QoS = QoS.AtLeastOnce, PacketId = 3, Payload = Bytes("x") });
        var reply = await publisher.ReceiveAsync();
        var code = reply switch
        {
            PubAckPacket ack => ack.ReasonCode,
            DisconnectPacket d => d.ReasonCode,
            _ => throw new MqttTestException($"unexpected {PacketFormatter.Describe(reply)}"),
        };
        Assert.Equal(ReasonCode.TopicNameInvalid, code);
        await watcher.ExpectNoPacketAsync();
    }
}

/// <summary>Max connections needs a server of its own.</summary>
public sealed class ConnectionLimitTests(ITestOutputHelper output) : BlackBoxTest(null, output)
{
    [Fact]
    public async Task ConnectionsBeyondMaxConnections_AreRefused()
    {
        // 5.0: CONNACK 0x89 Server busy (or 0x97 Quota exceeded); 3.1.1: return code 0x03 Server unavailable.
        var server = await StartServerAsync("--Broker:MaxConnections=2");
        var first = await ConnectAsync(ProtocolVersion.V500, server: server);
        await ConnectAsync(ProtocolVersion.V311, server: server);

        var (v5, refused) = await ConnectRawAsync(ProtocolVersion.V500, NewClientId(), cleanStart: true, server: server);
        Assert.Contains(refused.ReasonCode, new[] { ReasonCode.ServerBusy, ReasonCode.QuotaExceeded });
        Assert.True(await v5.WaitForCloseAsync());

        var v311 = await OpenAsync(ProtocolVersion.V311, server);
        await v311.SendAsync(new ConnectPacket { ProtocolVersion = ProtocolVersion.V311, ClientId = NewClientId(), CleanStart = true, KeepAliveSeconds = 60 });
        Assert.Equal("20020003", Convert.ToHexString(await v311.ReceiveRawAsync()));
        Assert.True(await v311.WaitForCloseAsync());

        // A freed slot can be used again.
        await first.DisconnectAsync();
        Assert.True(await Eventually.Until(async () =>
        {
            var (probe, ack) = await ConnectRawAsync(ProtocolVersion.V500, NewClientId(), cleanStart: true, server: server);
            await probe.DisconnectAsync();
            return ack.ReasonCode == ReasonCode.Success;
        }, TimeSpan.FromSeconds(5)), "the slot of a disconnected client was not freed");
    }
}
