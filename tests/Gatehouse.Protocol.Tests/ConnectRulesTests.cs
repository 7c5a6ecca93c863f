using Gatehouse.Protocol.Packets;
using Gatehouse.Protocol.Tests.Support;
using static Gatehouse.Protocol.Tests.Support.Rejection;
using static Gatehouse.Protocol.Tests.Support.Wire;

namespace Gatehouse.Protocol.Tests;

public class ConnectRulesTests
{
    private static readonly string Mqtt = Str("MQTT");

    /// <summary>A CONNECT: protocol name, level, flags, keep alive 60, then <paramref name="rest"/> (properties and payload).</summary>
    private static byte[] Connect(string name, string level, string flags, string rest) => Frame(0x10, name + level + flags + "003C" + rest);

    private static byte[] ConnectV5(string flags, string rest) => Connect(Mqtt, "05", flags, rest);

    private static byte[] ConnectV3(string flags, string rest) => Connect(Mqtt, "04", flags, rest);

    [Theory]
    [InlineData("MQTX", "05")]
    [InlineData("MQTT", "03")]
    [InlineData("MQTT", "06")]
    [InlineData("MQTT", "00")]
    [InlineData("MQIsdp", "04")]
    [InlineData("mqtt", "04")]
    [InlineData("", "04")]
    public void Unknown_protocol_name_or_level_is_unsupported_protocol_version(string name, string level)
    {
        // [MQTT-3.1.2-1], [MQTT-3.1.2-2]: the channel answers CONNACK 0x84 / return code 1.
        AssertRejected(Connect(Str(name), level, "02", "00" + Str("c")), null, ReasonCode.UnsupportedProtocolVersion);
    }

    [Fact]
    public void Reserved_connect_flag_is_malformed() => AssertRejected(ConnectV5("03", "00" + Str("c")), null, ReasonCode.MalformedPacket);

    [Theory]
    [InlineData("0A")] // Will QoS 1 without Will Flag [MQTT-3.1.2-11]
    [InlineData("12")] // Will QoS 2 without Will Flag
    [InlineData("22")] // Will Retain without Will Flag [MQTT-3.1.2-13]
    public void Will_qos_and_retain_require_the_will_flag(string flags)
    {
        AssertRejected(ConnectV5(flags, "00" + Str("c")), null, ReasonCode.MalformedPacket);
        AssertRejected(ConnectV3(flags, Str("c")), null, ReasonCode.MalformedPacket);
    }

    [Fact]
    public void Will_qos_3_is_malformed() =>
        AssertRejected(ConnectV5("1E", "00" + Str("c") + "00" + Str("w") + Bin([1])), null, ReasonCode.MalformedPacket);

    [Fact]
    public void Password_without_user_name_is_a_protocol_error_in_3_1_1() =>
        AssertRejected(ConnectV3("42", Str("c") + Bin([1])), null, ReasonCode.ProtocolError);

    [Fact]
    public void Password_without_user_name_is_allowed_in_5_0()
    {
        var connect = Assert.IsType<ConnectPacket>(Decode(ConnectV5("42", "00" + Str("c") + Bin([1])), null));
        Assert.Null(connect.UserName);
        Assert.Equal(new byte[] { 1 }, connect.Password!.Value.ToArray());
    }

    [Theory]
    [InlineData("a/+")]
    [InlineData("#")]
    public void Will_topic_with_wildcards_is_topic_name_invalid(string topic)
    {
        AssertRejected(ConnectV5("06", "00" + Str("c") + "00" + Str(topic) + Bin([1])), null, ReasonCode.TopicNameInvalid);
        AssertRejected(ConnectV3("06", Str("c") + Str(topic) + Bin([1])), null, ReasonCode.MalformedPacket);
    }

    [Fact]
    public void Empty_will_topic_is_topic_name_invalid() =>
        AssertRejected(ConnectV5("06", "00" + Str("c") + "00" + Str("") + Bin([1])), null, ReasonCode.TopicNameInvalid);

    [Theory]
    [InlineData("1100000001")] // Session Expiry Interval belongs to CONNECT, not the will
    [InlineData("230001")] // Topic Alias
    [InlineData("0B01")] // Subscription Identifier
    public void Will_property_not_allowed_in_will_properties_is_malformed(string property) =>
        AssertRejected(ConnectV5("06", "00" + Str("c") + Props(property) + Str("w") + Bin([1])), null, ReasonCode.MalformedPacket);

    [Theory]
    [InlineData("1800000005")] // Will Delay Interval belongs to the will
    [InlineData("0101")] // Payload Format Indicator
    [InlineData("230001")] // Topic Alias
    [InlineData("1A000161")] // Response Information (CONNACK only)
    public void Connect_property_not_allowed_in_connect_is_malformed(string property) =>
        AssertRejected(ConnectV5("02", Props(property) + Str("c")), null, ReasonCode.MalformedPacket);

    [Fact]
    public void Will_payload_not_utf8_with_payload_format_indicator_is_payload_format_invalid() =>
        AssertRejected(ConnectV5("06", "00" + Str("c") + Props("0101") + Str("w") + Bin([0xFF])), null, ReasonCode.PayloadFormatInvalid);

    [Fact]
    public void Trailing_bytes_after_the_payload_are_malformed() =>
        AssertRejected(ConnectV5("02", "00" + Str("c") + "FF"), null, ReasonCode.MalformedPacket);

    [Theory]
    [InlineData("82")] // user name flag, no user name
    [InlineData("C2")] // password flag, no password
    [InlineData("06")] // will flag, no will
    public void Missing_payload_fields_are_malformed(string flags) =>
        AssertRejected(ConnectV5(flags, "00" + Str("c")), null, ReasonCode.MalformedPacket);

    [Fact]
    public void Client_identifier_must_be_valid_utf8() =>
        AssertRejected(ConnectV5("02", "00" + "0002C080"), null, ReasonCode.MalformedPacket);

    [Fact]
    public void Empty_client_identifier_is_left_to_the_channel()
    {
        var connect = Assert.IsType<ConnectPacket>(Decode(ConnectV3("00", Str("")), null));
        Assert.Equal("", connect.ClientId);
        Assert.False(connect.CleanStart);
    }

    [Fact]
    public void Will_with_qos_2_and_retain_is_decoded()
    {
        var connect = Assert.IsType<ConnectPacket>(Decode(ConnectV3("36", Str("c") + Str("w/t") + Bin([7])), null));
        Assert.Equal(QoS.ExactlyOnce, connect.Will!.QoS);
        Assert.True(connect.Will.Retain);
        Assert.Equal("w/t", connect.Will.Topic);
    }
}
