using System.Text;
using Gatehouse.Protocol.Packets;
using Gatehouse.Protocol.Tests.Support;

namespace Gatehouse.Protocol.Tests;

/// <summary>Byte vectors written by hand from the specifications; each decodes and re-encodes to the same bytes.</summary>
public class GoldenVectorTests
{
    private const ProtocolVersion V3 = ProtocolVersion.V311;
    private const ProtocolVersion V5 = ProtocolVersion.V500;

    public static TheoryData<string, string, ProtocolVersion> Vectors() => new()
    {
        { "CONNECT 3.1.1 clean, keep alive 60, client 'test'", "10 10 0004 4D515454 04 02 003C 0004 74657374", V3 },
        { "CONNECT 3.1 (MQIsdp, level 3)", "10 12 0006 4D5149736470 03 02 003C 0004 74657374", ProtocolVersion.V310 },
        { "CONNECT 5.0 with Session Expiry Interval 10", "10 16 0004 4D515454 05 02 003C 05 11 0000000A 0004 74657374", V5 },
        { "CONNECT 3.1.1 with will QoS 1, user name and password", "10 19 0004 4D515454 04 CE 000A 000163 000177 000178 000175 000170", V3 },
        { "CONNACK 3.1.1 session present", "20 02 01 00", V3 },
        { "CONNACK 3.1.1 server unavailable", "20 02 00 03", V3 },
        { "CONNACK 5.0 success, no properties", "20 03 00 00 00", V5 },
        { "PUBLISH 3.1.1 QoS 0 retained", "31 07 0003 612F62 6869", V3 },
        { "PUBLISH 5.0 QoS 1 with Payload Format Indicator and Content Type", "32 0E 0001 74 0001 06 0101 03000161 6869", V5 },
        { "PUBACK 5.0 short form", "40 02 0001", V5 },
        { "PUBACK 5.0 reason code only", "40 03 0001 10", V5 },
        { "PUBACK 5.0 with Reason String", "40 08 0001 10 04 1F000178", V5 },
        { "PUBACK 3.1.1", "40 02 0001", V3 },
        { "PUBREL 3.1.1 (flags 0010)", "62 02 0005", V3 },
        { "SUBSCRIBE 5.0 with Subscription Identifier and all options", "82 0B 000A 02 0B05 0003612F62 2D", V5 },
        { "SUBSCRIBE 3.1.1 '#' QoS 1", "82 06 0001 000123 01", V3 },
        { "SUBACK 3.1.1 granted QoS 1 and failure 0x80", "90 04 0001 01 80", V3 },
        { "SUBACK 5.0 granted QoS 0 and Not authorized", "90 05 0001 00 00 87", V5 },
        { "UNSUBSCRIBE 3.1.1", "A2 05 000B 000123", V3 },
        { "UNSUBACK 3.1.1 (no payload)", "B0 02 0007", V3 },
        { "UNSUBACK 5.0 No subscription existed", "B0 04 0007 00 11", V5 },
        { "PINGREQ", "C0 00", V3 },
        { "PINGRESP", "D0 00", V5 },
        { "DISCONNECT 3.1.1", "E0 00", V3 },
        { "DISCONNECT 5.0 short form", "E0 00", V5 },
        { "DISCONNECT 5.0 Session taken over, reason only", "E0 01 8E", V5 },
        { "AUTH 5.0 short form", "F0 00", V5 },
        { "AUTH 5.0 continue with Authentication Method 'M'", "F0 06 18 04 150001 4D", V5 },
    };

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Vector_decodes_and_re_encodes_to_the_same_bytes(string description, string hex, ProtocolVersion version)
    {
        var bytes = Wire.Hex(hex);
        var readerVersion = (bytes[0] >> 4) == 1 ? (ProtocolVersion?)null : version;
        var packet = Wire.Decode(bytes, readerVersion);
        Assert.True(Wire.ToHex(bytes) == Wire.ToHex(Wire.Encode(packet, version)), description);
    }

    [Fact]
    public void Connect_3_1_1_fields()
    {
        var connect = Wire.Decode<ConnectPacket>("10 19 0004 4D515454 04 CE 000A 000163 000177 000178 000175 000170", null);
        Assert.Equal(ProtocolVersion.V311, connect.ProtocolVersion);
        Assert.True(connect.CleanStart);
        Assert.Equal(10, connect.KeepAliveSeconds);
        Assert.Equal("c", connect.ClientId);
        Assert.Equal("w", connect.Will!.Topic);
        Assert.Equal("x"u8.ToArray(), connect.Will.Payload.ToArray());
        Assert.Equal(QoS.AtLeastOnce, connect.Will.QoS);
        Assert.False(connect.Will.Retain);
        Assert.Equal("u", connect.UserName);
        Assert.Equal("p"u8.ToArray(), connect.Password!.Value.ToArray());
    }

    [Fact]
    public void Subscribe_5_0_options_byte_is_decoded_bit_by_bit()
    {
        var subscribe = Wire.Decode<SubscribePacket>("82 0B 000A 02 0B05 0003612F62 2D", V5);
        Assert.Equal(10, subscribe.PacketId);
        Assert.Equal([5u], subscribe.Properties!.SubscriptionIdentifiers!);
        var s = Assert.Single(subscribe.Subscriptions);
        Assert.Equal("a/b", s.TopicFilter);
        Assert.Equal(QoS.AtLeastOnce, s.MaximumQoS);
        Assert.True(s.NoLocal);
        Assert.True(s.RetainAsPublished);
        Assert.Equal(2, s.RetainHandling);
    }

    [Fact]
    public void Publish_5_0_fields()
    {
        var publish = Wire.Decode<PublishPacket>("32 0E 0001 74 0001 06 0101 03000161 6869", V5);
        Assert.Equal("t", publish.Topic);
        Assert.Equal(QoS.AtLeastOnce, publish.QoS);
        Assert.Equal(1, publish.PacketId);
        Assert.Equal((byte)1, publish.Properties!.PayloadFormatIndicator);
        Assert.Equal("a", publish.Properties.ContentType);
        Assert.Equal("hi", Encoding.UTF8.GetString(publish.Payload.Span));
    }

    [Fact]
    public void PubAck_5_0_success_without_properties_is_written_in_short_form()
    {
        Assert.Equal(Wire.Hex("40 02 0001"), Wire.Encode(new PubAckPacket { PacketId = 1 }, V5));
        Assert.Equal(ReasonCode.Success, Wire.Decode<PubAckPacket>("40 02 0001", V5).ReasonCode);
    }

    [Fact]
    public void PubAck_5_0_with_reason_code_and_empty_property_length_is_accepted()
    {
        var ack = Wire.Decode<PubAckPacket>("40 04 0001 10 00", V5);
        Assert.Equal(ReasonCode.NoMatchingSubscribers, ack.ReasonCode);
        Assert.Null(ack.Properties);
    }

    [Fact]
    public void SubAck_3_1_1_writes_0x80_for_any_failure_code()
    {
        var suback = new SubAckPacket { PacketId = 1, ReasonCodes = [ReasonCode.GrantedQoS1, ReasonCode.NotAuthorized, ReasonCode.TopicFilterInvalid, ReasonCode.GrantedQoS2] };
        Assert.Equal(Wire.Hex("90 06 0001 01 80 80 02"), Wire.Encode(suback, V3));
    }

    [Fact]
    public void Variable_byte_integer_321_is_C1_02()
    {
        // Section 1.5.5: 321 = 0xC1 0x02. A PUBLISH with a 3-byte topic field and 318 bytes of payload.
        var publish = new PublishPacket { Topic = "a", Payload = new byte[318] };
        var bytes = Wire.Encode(publish, V3);
        Assert.Equal(new byte[] { 0x30, 0xC1, 0x02 }, bytes[..3]);
    }
}
