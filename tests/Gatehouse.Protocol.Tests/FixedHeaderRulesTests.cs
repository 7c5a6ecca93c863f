using System.Buffers;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;
using Gatehouse.Protocol.Tests.Support;
using static Gatehouse.Protocol.Tests.Support.Rejection;

namespace Gatehouse.Protocol.Tests;

public class FixedHeaderRulesTests
{
    private const ProtocolVersion V3 = ProtocolVersion.V311;
    private const ProtocolVersion V5 = ProtocolVersion.V500;

    [Theory]
    [InlineData(ProtocolVersion.V311)]
    [InlineData(ProtocolVersion.V500)]
    public void Packet_type_0_is_malformed(ProtocolVersion version) => AssertRejected(Wire.Hex("00 00"), version, ReasonCode.MalformedPacket);

    [Fact]
    public void Packet_type_15_is_malformed_in_3_1_1() => AssertRejected(Wire.Hex("F0 00"), V3, ReasonCode.MalformedPacket);

    [Theory]
    [InlineData("C0 00")]
    [InlineData("30 03 0001 61")]
    [InlineData("20 02 00 00")]
    public void Only_CONNECT_is_accepted_as_the_first_packet(string hex) => AssertRejected(Wire.Hex(hex), null, ReasonCode.ProtocolError);

    [Theory]
    [InlineData("60 02 0001")] // PUBREL must be 0010 [MQTT-3.6.1-1]
    [InlineData("64 02 0001")]
    [InlineData("80 06 0001 000161 00")] // SUBSCRIBE must be 0010 [MQTT-3.8.1-1]
    [InlineData("A0 05 0001 000161")] // UNSUBSCRIBE must be 0010 [MQTT-3.10.1-1]
    [InlineData("42 02 0001")] // PUBACK flags 0
    [InlineData("51 02 0001")] // PUBREC flags 0
    [InlineData("78 02 0001")] // PUBCOMP flags 0
    [InlineData("91 03 0001 00")] // SUBACK flags 0
    [InlineData("B2 02 0001")] // UNSUBACK flags 0
    [InlineData("C1 00")] // PINGREQ
    [InlineData("D2 00")] // PINGRESP
    [InlineData("E8 00")] // DISCONNECT
    [InlineData("21 02 00 00")] // CONNACK
    public void Reserved_fixed_header_flags_must_match_the_table(string hex)
    {
        AssertRejected(Wire.Hex(hex), V3, ReasonCode.MalformedPacket);
        AssertRejected(Wire.Hex(hex), V5, ReasonCode.MalformedPacket);
    }

    [Fact]
    public void Connect_with_fixed_header_flags_is_malformed() =>
        AssertRejected(Wire.Hex("12 10 0004 4D515454 04 02 003C 0004 74657374"), null, ReasonCode.MalformedPacket);

    [Fact]
    public void Auth_with_fixed_header_flags_is_malformed() => AssertRejected(Wire.Hex("F1 00"), V5, ReasonCode.MalformedPacket);

    [Fact]
    public void Mqtt_3_1_predates_the_0010_flags_rule_and_is_accepted()
    {
        Assert.IsType<PubRelPacket>(Wire.Decode(Wire.Hex("60 02 0001"), ProtocolVersion.V310));
    }

    [Theory]
    [InlineData("30 FF FF FF FF 01")]
    [InlineData("30 80 80 80 80 00")]
    public void Remaining_length_of_more_than_four_bytes_is_malformed(string hex)
    {
        AssertRejected(Wire.Hex(hex), V3, ReasonCode.MalformedPacket);
        AssertRejected(Wire.Hex(hex), V5, ReasonCode.MalformedPacket);
    }

    [Fact]
    public void Connect_with_five_byte_remaining_length_is_malformed() =>
        AssertRejected(Wire.Hex("10 FF FF FF FF 01"), null, ReasonCode.MalformedPacket);

    [Theory]
    [InlineData("C0 80 00")]
    [InlineData("30 83 00 0001 61 00 00")]
    public void Non_minimal_remaining_length_is_malformed_in_5_0(string hex) => AssertRejected(Wire.Hex(hex), V5, ReasonCode.MalformedPacket);

    [Fact]
    public void Non_minimal_remaining_length_is_tolerated_in_3_1_1()
    {
        // 3.1.1 has no minimal-encoding rule; only 5.0 added [MQTT-1.5.5-1].
        Assert.IsType<PingReqPacket>(Wire.Decode(Wire.Hex("C0 80 00"), V3));
    }

    [Fact]
    public void Packet_too_large_is_reported_from_the_fixed_header_before_the_body_arrives()
    {
        // Only the fixed header is present: 268,435,455 bytes announced.
        var header = Wire.Hex("30 FF FF FF 7F");
        AssertRejected(header, V5, ReasonCode.PacketTooLarge, maximumPacketSize: 1024);
    }

    [Fact]
    public void Maximum_packet_size_counts_the_whole_packet()
    {
        var bytes = Wire.Hex("30 06 0001 61 00 6869"); // 8 bytes in total
        Assert.IsType<PublishPacket>(Wire.Decode(bytes, V5, maximumPacketSize: 8));
        AssertRejected(bytes, V5, ReasonCode.PacketTooLarge, maximumPacketSize: 7);
    }

    [Theory]
    [InlineData("30")]
    [InlineData("30 FF")]
    [InlineData("30 FF FF FF")]
    public void Incomplete_remaining_length_needs_more_data(string hex)
    {
        var sequence = new ReadOnlySequence<byte>(Wire.Hex(hex));
        Assert.False(PacketReader.TryRead(ref sequence, V5, Wire.NoLimit, out var packet));
        Assert.Null(packet);
        Assert.Equal(Wire.Hex(hex).Length, sequence.Length);
    }

    [Fact]
    public void Empty_input_needs_more_data()
    {
        var sequence = ReadOnlySequence<byte>.Empty;
        Assert.False(PacketReader.TryRead(ref sequence, null, Wire.NoLimit, out _));
    }
}
