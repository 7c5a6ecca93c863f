using Gatehouse.Protocol.Packets;
using Gatehouse.Protocol.Tests.Support;
using static Gatehouse.Protocol.Tests.Support.Rejection;
using static Gatehouse.Protocol.Tests.Support.Wire;

namespace Gatehouse.Protocol.Tests;

/// <summary>CONNACK, PUBACK family, SUBACK, UNSUBACK, PING, DISCONNECT and AUTH shapes.</summary>
public class AckRulesTests
{
    private const ProtocolVersion V3 = ProtocolVersion.V311;
    private const ProtocolVersion V5 = ProtocolVersion.V500;

    [Theory]
    [InlineData("40 03 0001 00")]
    [InlineData("40 01 00")]
    [InlineData("50 04 0001 0000")]
    [InlineData("62 00")]
    [InlineData("70 03 0001 00")]
    public void Publish_flow_packets_are_exactly_two_bytes_in_3_1_1(string hex) => AssertRejected(Hex(hex), V3, ReasonCode.MalformedPacket);

    [Theory]
    [InlineData("40 01 00")]
    [InlineData("40 04 0001 00 05")] // property length beyond the packet
    [InlineData("40 05 0001 00 00 FF")] // trailing byte
    public void Malformed_publish_flow_packets_in_5_0(string hex) => AssertRejected(Hex(hex), V5, ReasonCode.MalformedPacket);

    [Fact]
    public void PubRec_reason_code_only_form_is_accepted()
    {
        var pubrec = Decode<PubRecPacket>("50 03 0009 80", V5);
        Assert.Equal(9, pubrec.PacketId);
        Assert.Equal(ReasonCode.UnspecifiedError, pubrec.ReasonCode);
    }

    [Theory]
    [InlineData("E0 01 00")]
    [InlineData("E0 02 00 00")]
    public void Disconnect_in_3_1_1_has_remaining_length_0(string hex) => AssertRejected(Hex(hex), V3, ReasonCode.MalformedPacket);

    [Fact]
    public void Disconnect_short_form_means_normal_disconnection()
    {
        var disconnect = Decode<DisconnectPacket>("E0 00", V5);
        Assert.Equal(ReasonCode.NormalDisconnection, disconnect.ReasonCode);
        Assert.Null(disconnect.Properties);
    }

    [Fact]
    public void Disconnect_trailing_bytes_are_malformed() => AssertRejected(Hex("E0 03 00 00 00"), V5, ReasonCode.MalformedPacket);

    [Theory]
    [InlineData("C0 01 00")]
    [InlineData("D0 01 00")]
    public void Ping_packets_have_remaining_length_0(string hex)
    {
        AssertRejected(Hex(hex), V3, ReasonCode.MalformedPacket);
        AssertRejected(Hex(hex), V5, ReasonCode.MalformedPacket);
    }

    [Fact]
    public void Auth_in_3_1_1_is_malformed() => AssertRejected(Hex("F0 00"), V3, ReasonCode.MalformedPacket);

    [Fact]
    public void Auth_short_form_means_success() => Assert.Equal(ReasonCode.Success, Decode<AuthPacket>("F0 00", V5).ReasonCode);

    [Theory]
    [InlineData("20 02 02 00")] // reserved acknowledge flag [MQTT-3.2.2-1]
    [InlineData("20 02 80 00")]
    [InlineData("20 02 00 06")] // reserved return code
    [InlineData("20 03 00 00 00")] // 3.1.1 CONNACK is exactly 2 bytes
    [InlineData("20 01 00")]
    public void Malformed_connack_in_3_1_1(string hex) => AssertRejected(Hex(hex), V3, ReasonCode.MalformedPacket);

    [Theory]
    [InlineData(0, ReasonCode.Success)]
    [InlineData(1, ReasonCode.UnsupportedProtocolVersion)]
    [InlineData(2, ReasonCode.ClientIdentifierNotValid)]
    [InlineData(3, ReasonCode.ServerUnavailable)]
    [InlineData(4, ReasonCode.BadUserNameOrPassword)]
    [InlineData(5, ReasonCode.NotAuthorized)]
    public void Connack_3_1_1_return_codes_map_to_reason_codes(byte returnCode, ReasonCode expected) =>
        Assert.Equal(expected, Assert.IsType<ConnAckPacket>(Decode(Frame(0x20, $"00{returnCode:X2}"), V3)).ReasonCode);

    [Fact]
    public void Connack_5_0_without_property_length_is_malformed() => AssertRejected(Hex("20 02 00 00"), V5, ReasonCode.MalformedPacket);

    [Theory]
    [InlineData("90 03 0001 03")]
    [InlineData("90 03 0001 81")]
    public void Suback_3_1_1_reserved_return_codes_are_malformed(string hex) => AssertRejected(Hex(hex), V3, ReasonCode.MalformedPacket);

    [Fact]
    public void Unsuback_3_1_1_is_exactly_two_bytes() => AssertRejected(Hex("B0 03 0001 00"), V3, ReasonCode.MalformedPacket);
}
