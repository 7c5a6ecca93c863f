using System.Text;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.BlackBox;

/// <summary>
/// Malformed packets and protocol errors as hand-written bytes: 5.0 clients get DISCONNECT 0x81/0x82 (or the
/// specific code) before the close, 3.1.1 clients only the close, and no other connection notices.
/// </summary>
public sealed class MalformedTests(ServerFixture fixture, ITestOutputHelper output)
    : BlackBoxTest(fixture, output), IClassFixture<ServerFixture>
{
    private const ReasonCode Malformed = ReasonCode.MalformedPacket;
    private const ReasonCode ProtocolError = ReasonCode.ProtocolError;

    /// <summary>Fixed header byte + remaining length + body.</summary>
    private static byte[] Packet(byte header, params byte[][] parts)
    {
        var body = parts.SelectMany(p => p).ToArray();
        var length = new List<byte>();
        var x = body.Length;
        do
        {
            var digit = (byte)(x % 128);
            x /= 128;
            length.Add(x > 0 ? (byte)(digit | 0x80) : digit);
        }
        while (x > 0);
        return [header, .. length, .. body];
    }

    private static byte[] Str(string s) => Str(Encoding.UTF8.GetBytes(s));

    private static byte[] Str(byte[] utf8) => [(byte)(utf8.Length >> 8), (byte)utf8.Length, .. utf8];

    private static byte[] U16(int value) => [(byte)(value >> 8), (byte)value];

    /// <summary>Empty property block for 5.0, nothing for 3.1.1.</summary>
    private static byte[] NoProps(ProtocolVersion v) => v == ProtocolVersion.V500 ? [0x00] : [];

    private static readonly byte[] Payload = "payload"u8.ToArray();

    /// <summary>name → (bytes for a version, codes a 5.0 client may be told, 5.0 only?)</summary>
    private static readonly Dictionary<string, (Func<ProtocolVersion, byte[]> Bytes, ReasonCode[] Codes, bool V5Only)> Cases = new()
    {
        // [MQTT-3.3.1-4] QoS 3.
        ["PublishQos3"] = (v => Packet(0x36, Str("a/b"), U16(1), NoProps(v), Payload), [Malformed], false),
        // [MQTT-3.3.1-2] DUP set on QoS 0.
        ["PublishQos0WithDup"] = (v => Packet(0x38, Str("a/b"), NoProps(v), Payload), [Malformed, ProtocolError], false),
        // [MQTT-3.3.2-2] wildcard in a topic name.
        ["PublishTopicWithWildcard"] = (v => Packet(0x30, Str("a/+"), NoProps(v), Payload), [Malformed, ProtocolError, ReasonCode.TopicNameInvalid], false),
        ["PublishTopicWithHash"] = (v => Packet(0x30, Str("a/#"), NoProps(v), Payload), [Malformed, ProtocolError, ReasonCode.TopicNameInvalid], false),
        // [MQTT-1.5.4-2] U+0000 in a string.
        ["PublishTopicWithNul"] = (v => Packet(0x30, Str("a\0b"), NoProps(v), Payload), [Malformed], false),
        // [MQTT-1.5.4-1] ill-formed UTF-8: overlong encoding, and an encoded surrogate.
        ["PublishTopicOverlongUtf8"] = (v => Packet(0x30, Str([0x61, 0xC0, 0xAF]), NoProps(v), Payload), [Malformed], false),
        ["PublishTopicSurrogateUtf8"] = (v => Packet(0x30, Str([0x61, 0xED, 0xA0, 0x80]), NoProps(v), Payload), [Malformed], false),
        // [MQTT-2.2.1-3] packet identifier 0 at QoS > 0.
        ["PublishQos1PacketIdZero"] = (v => Packet(0x32, Str("a/b"), U16(0), NoProps(v), Payload), [Malformed, ProtocolError], false),
        // Topic length runs past the end of the packet.
        ["PublishTruncatedTopic"] = (v => Packet(0x30, [0x00, 0x10, (byte)'a']), [Malformed], false),
        // [MQTT-3.8.1-1], [MQTT-3.10.1-1], [MQTT-3.6.1-1], [MQTT-2.1.3-1] reserved fixed-header flags.
        ["SubscribeWrongFlags"] = (v => Packet(0x80, U16(1), NoProps(v), Str("a/b"), [0x00]), [Malformed], false),
        ["UnsubscribeWrongFlags"] = (v => Packet(0xA0, U16(1), NoProps(v), Str("a/b")), [Malformed], false),
        ["PubRelWrongFlags"] = (v => Packet(0x60, U16(1)), [Malformed], false),
        ["PingReqWrongFlags"] = (v => Packet(0xC1), [Malformed], false),
        ["DisconnectWrongFlags"] = (v => Packet(0xE1), [Malformed], false),
        // [MQTT-3.8.3-2], [MQTT-3.10.3-2] no topic filters.
        ["SubscribeWithoutFilters"] = (v => Packet(0x82, U16(1), NoProps(v)), [Malformed, ProtocolError], false),
        ["UnsubscribeWithoutFilters"] = (v => Packet(0xA2, U16(1), NoProps(v)), [Malformed, ProtocolError], false),
        // [MQTT-2.2.1-3] SUBSCRIBE packet identifier 0.
        ["SubscribePacketIdZero"] = (v => Packet(0x82, U16(0), NoProps(v), Str("a/b"), [0x00]), [Malformed, ProtocolError], false),
        // [MQTT-3.8.3-4] (3.1.1) / [MQTT-3.8.3-5] (5.0): requested QoS 3, reserved option bits.
        ["SubscribeQos3"] = (v => Packet(0x82, U16(1), NoProps(v), Str("a/b"), [0x03]), [Malformed, ProtocolError], false),
        ["SubscribeReservedOptionBits"] = (v => Packet(0x82, U16(1), NoProps(v), Str("a/b"), [0xC0]), [Malformed, ProtocolError], false),
        // Remaining length encoded in five bytes [MQTT-1.5.5-1].
        ["RemainingLengthFiveBytes"] = (v => [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], [Malformed, ReasonCode.PacketTooLarge], false),
        // Packet type 0 is reserved; AUTH does not exist in 3.1.1.
        ["ReservedPacketType0"] = (v => [0x00, 0x00], [Malformed, ProtocolError], false),
        ["AuthWithoutAuthentication"] = (v => [0xF0, 0x00], [Malformed, ProtocolError, ReasonCode.BadAuthenticationMethod], false),
        // Packets only a server sends.
        ["ConnAckFromClient"] = (v => v == ProtocolVersion.V500 ? Packet(0x20, [0x00, 0x00, 0x00]) : Packet(0x20, [0x00, 0x00]), [Malformed, ProtocolError], false),
        ["SubAckFromClient"] = (v => Packet(0x90, U16(1), NoProps(v), [0x00]), [Malformed, ProtocolError], false),
        // 5.0 properties: duplicated, not allowed in the packet, length past the end, Retain Handling 3, Subscription Identifier 0.
        ["PublishDuplicateProperty"] = (v => Packet(0x30, Str("a/b"), [0x04, 0x01, 0x00, 0x01, 0x00], Payload), [Malformed, ProtocolError], true),
        ["PublishPropertyNotAllowed"] = (v => Packet(0x30, Str("a/b"), [0x05, 0x11, 0x00, 0x00, 0x00, 0x0A], Payload), [Malformed, ProtocolError], true),
        ["PublishUnknownProperty"] = (v => Packet(0x30, Str("a/b"), [0x02, 0x7F, 0x00], Payload), [Malformed, ProtocolError], true),
        ["PublishPropertyLengthPastEnd"] = (v => Packet(0x30, Str("a/b"), [0x40, 0x01, 0x00]), [Malformed], true),
        ["SubscribeRetainHandling3"] = (v => Packet(0x82, U16(1), [0x00], Str("a/b"), [0x30]), [Malformed, ProtocolError], true),
        ["SubscribeIdentifierZero"] = (v => Packet(0x82, U16(1), [0x02, 0x0B, 0x00], Str("a/b"), [0x00]), [Malformed, ProtocolError], true),
        ["PayloadFormatIndicatorInvalidValue"] = (v => Packet(0x30, Str("a/b"), [0x02, 0x01, 0x02], Payload), [Malformed, ProtocolError], true),
    };

    public static TheoryData<string, ProtocolVersion> AfterConnectCases()
    {
        var data = new TheoryData<string, ProtocolVersion>();
        foreach (var (name, c) in Cases)
        {
            if (!c.V5Only) data.Add(name, ProtocolVersion.V311);
            data.Add(name, ProtocolVersion.V500);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(AfterConnectCases))]
    public async Task MalformedPacketAfterConnect_DisconnectsOnlyTheSender(string @case, ProtocolVersion version)
    {
        var (bytes, codes, _) = Cases[@case];
        var bystander = await ConnectAsync(version);
        var offender = await ConnectAsync(version);
        await offender.SendAsync(bytes(version));
        await offender.ExpectDisconnectAndCloseAsync(codes);
        await bystander.PingAsync();
    }

    // ---- CONNECT ----

    private static byte[] Connect(ProtocolVersion v, byte flags, string clientId = "malformed-client", byte[]? extraPayload = null, byte[]? properties = null, byte[]? protocolName = null)
        => Packet(0x10, protocolName ?? Str("MQTT"), [(byte)v, flags], U16(60),
            v == ProtocolVersion.V500 ? properties ?? [0x00] : [], Str(clientId), extraPayload ?? []);

    /// <summary>
    /// The server refuses a bad CONNECT by closing; a 5.0 client may first get a CONNACK with 0x80 or above
    /// [MQTT-3.2.2-7], a 3.1.1 client must get nothing [MQTT-3.1.4-1].
    /// </summary>
    private static async Task ExpectConnectRefusedAsync(MqttTestClient client, ProtocolVersion version, bool allowV311ConnAck, params ReasonCode[] codes)
    {
        Assert.True(await client.WaitForCloseAsync(), "the connection was not closed");
        var packets = client.PacketsBeforeClose;
        if (packets.Count == 1 && packets[0] is ConnAckPacket connAck && (version == ProtocolVersion.V500 || allowV311ConnAck))
        {
            Assert.Contains(connAck.ReasonCode, codes);
            return;
        }
        Assert.Empty(packets.Select(PacketFormatter.Describe));
    }

    public static TheoryData<string, ProtocolVersion> ConnectCases()
    {
        var data = new TheoryData<string, ProtocolVersion>();
        foreach (var name in new[] { "ReservedFlag", "WillQos3", "WillQosWithoutWillFlag", "WillRetainWithoutWillFlag", "ClientIdInvalidUtf8", "Truncated", "ProtocolNameWrong" })
        {
            data.Add(name, ProtocolVersion.V311);
            data.Add(name, ProtocolVersion.V500);
        }
        data.Add("PasswordWithoutUserName", ProtocolVersion.V311);
        data.Add("ReceiveMaximumZero", ProtocolVersion.V500);
        data.Add("MaximumPacketSizeZero", ProtocolVersion.V500);
        data.Add("DuplicateSessionExpiry", ProtocolVersion.V500);
        return data;
    }

    [Theory]
    [MemberData(nameof(ConnectCases))]
    public async Task MalformedConnect_IsRefused(string @case, ProtocolVersion version)
    {
        var will = (ProtocolVersion v) => (v == ProtocolVersion.V500 ? new byte[] { 0x00 } : []).Concat(Str("w/t")).Concat(Str("x")).ToArray();
        var bytes = @case switch
        {
            "ReservedFlag" => Connect(version, 0x03), // [MQTT-3.1.2-3]
            "WillQos3" => Connect(version, 0x1E, extraPayload: will(version)), // [MQTT-3.1.2-14] (3.1.1)
            "WillQosWithoutWillFlag" => Connect(version, 0x0A), // [MQTT-3.1.2-13] (3.1.1) / [MQTT-3.1.2-11]
            "WillRetainWithoutWillFlag" => Connect(version, 0x22), // [MQTT-3.1.2-15] (3.1.1) / [MQTT-3.1.2-13]
            "ClientIdInvalidUtf8" => Packet(0x10, Str("MQTT"), [(byte)version, 0x02], U16(60), NoProps(version), Str([0x61, 0xFF, 0x62])), // [MQTT-1.5.3-1]
            "Truncated" => Packet(0x10, Str("MQTT"), [(byte)version, 0x02]),
            "ProtocolNameWrong" => Connect(version, 0x02, protocolName: Str("MQTX")), // [MQTT-3.1.2-1]
            "PasswordWithoutUserName" => Connect(version, 0x42, extraPayload: Str("secret")), // [MQTT-3.1.2-22] (3.1.1)
            "ReceiveMaximumZero" => Connect(version, 0x02, properties: [0x03, 0x21, 0x00, 0x00]), // 3.1.2.11.3
            "MaximumPacketSizeZero" => Connect(version, 0x02, properties: [0x05, 0x27, 0x00, 0x00, 0x00, 0x00]), // 3.1.2.11.4
            "DuplicateSessionExpiry" => Connect(version, 0x02, properties: [0x0A, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2]), // 2.2.2.2
            _ => throw new ArgumentOutOfRangeException(nameof(@case)),
        };
        var bystander = await ConnectAsync(version);
        var client = await OpenAsync(version);
        await client.SendAsync(bytes);
        // A wrong protocol name may be answered like an unsupported version (0x01 / 0x84) [MQTT-3.1.2-1].
        if (@case == "ProtocolNameWrong") await ExpectConnectRefusedAsync(client, version, allowV311ConnAck: true, ReasonCode.UnsupportedProtocolVersion);
        else await ExpectConnectRefusedAsync(client, version, allowV311ConnAck: false, Malformed, ProtocolError);
        await bystander.PingAsync();
    }

    // ---- robustness ----

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task PacketsSplitIntoSingleBytes_AreReassembled(ProtocolVersion version)
    {
        var topic = NewTopic();
        var client = await OpenAsync(version);
        var id = NewClientId();
        await client.SendInChunksAsync(MqttTestClient.Encode(new ConnectPacket { ProtocolVersion = version, ClientId = id, CleanStart = true, KeepAliveSeconds = 60 }, version), 1);
        Assert.Equal(ReasonCode.Success, (await client.ReceiveAsync<ConnAckPacket>()).ReasonCode);
        await client.SendInChunksAsync(MqttTestClient.Encode(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription { TopicFilter = topic, MaximumQoS = QoS.AtLeastOnce }] }, version), 1);
        await client.ReceiveAsync<SubAckPacket>();
        await client.SendInChunksAsync(MqttTestClient.Encode(new PublishPacket { Topic = topic, QoS = QoS.AtLeastOnce, PacketId = 2, Payload = new byte[300] }, version), 1);
        var received = new List<MqttPacket> { await client.ReceiveAsync(), await client.ReceiveAsync() };
        Assert.Contains(received, p => p is PubAckPacket { PacketId: 2 });
        Assert.Contains(received, p => p is PublishPacket { Payload.Length: 300 });
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task SeveralPacketsInOneWrite_AreAllHandled(ProtocolVersion version)
    {
        var topic = NewTopic();
        var client = await OpenAsync(version);
        byte[] batch =
        [
            .. MqttTestClient.Encode(new ConnectPacket { ProtocolVersion = version, ClientId = NewClientId(), CleanStart = true, KeepAliveSeconds = 60 }, version),
            .. MqttTestClient.Encode(new SubscribePacket { PacketId = 7, Subscriptions = [new TopicSubscription { TopicFilter = topic }] }, version),
            .. MqttTestClient.Encode(new PublishPacket { Topic = topic, Payload = Bytes("self") }, version),
            .. MqttTestClient.Encode(PingReqPacket.Instance, version),
        ];
        await client.SendAsync(batch);
        await client.ReceiveAsync<ConnAckPacket>();
        Assert.Equal(7, (await client.ReceiveAsync<SubAckPacket>()).PacketId);
        Assert.Equal("self", Text((await client.ReceivePublishAsync()).Payload));
        await client.ReceiveAsync<PingRespPacket>();
    }

    [Fact]
    public async Task RandomGarbageOnManySockets_DoesNotAffectTheServer()
    {
        var bystander = await ConnectAsync(ProtocolVersion.V500);
        var random = new Random(1234);
        for (var i = 0; i < 30; i++)
        {
            var client = await OpenAsync(ProtocolVersion.V500);
            var garbage = new byte[random.Next(1, 200)];
            random.NextBytes(garbage);
            if (i % 3 == 0) garbage[0] = 0x10; // looks like CONNECT
            await client.SendAsync(garbage);
            if (i % 2 == 0) await client.AbortAsync();
        }
        await bystander.PingAsync();
        var fresh = await ConnectAsync(ProtocolVersion.V311);
        await fresh.PingAsync();
    }

    [Fact]
    public async Task ConnectionClosedMidPacket_DoesNotAffectTheServer()
    {
        var bystander = await ConnectAsync(ProtocolVersion.V311);
        var client = await ConnectAsync(ProtocolVersion.V311);
        var publish = MqttTestClient.Encode(new PublishPacket { Topic = NewTopic(), Payload = new byte[1000] }, ProtocolVersion.V311);
        await client.SendAsync(publish[..500]);
        await client.AbortAsync();
        await bystander.PingAsync();
    }
}
