using Gatehouse.Protocol.Packets;
using Gatehouse.Protocol.Tests.Support;
using static Gatehouse.Protocol.Tests.Support.Rejection;
using static Gatehouse.Protocol.Tests.Support.Wire;

namespace Gatehouse.Protocol.Tests;

public class SubscribeRulesTests
{
    private const ProtocolVersion V3 = ProtocolVersion.V311;
    private const ProtocolVersion V5 = ProtocolVersion.V500;

    private static byte[] SubscribeV5(string options, string filter = "a") => Frame(0x82, "000A" + "00" + Str(filter) + options);

    private static byte[] SubscribeV3(string options, string filter = "a") => Frame(0x82, "000A" + Str(filter) + options);

    [Fact]
    public void Subscribe_without_topic_filters_is_a_protocol_error()
    {
        // [MQTT-3.8.3-2] (5.0), [MQTT-3.8.3-3] (3.1.1)
        AssertRejected(Frame(0x82, "000A00"), V5, ReasonCode.ProtocolError);
        AssertRejected(Frame(0x82, "000A"), V3, ReasonCode.ProtocolError);
    }

    [Theory]
    [InlineData("40")]
    [InlineData("80")]
    [InlineData("C1")]
    public void Reserved_option_bits_are_malformed_in_5_0(string options) => AssertRejected(SubscribeV5(options), V5, ReasonCode.MalformedPacket);

    [Theory]
    [InlineData("04")]
    [InlineData("08")]
    [InlineData("10")]
    [InlineData("80")]
    [InlineData("03")] // QoS 3 [MQTT-3-8.3-4]
    public void Reserved_option_bits_or_qos_3_are_malformed_in_3_1_1(string options) => AssertRejected(SubscribeV3(options), V3, ReasonCode.MalformedPacket);

    [Fact]
    public void Maximum_qos_3_is_a_protocol_error_in_5_0() => AssertRejected(SubscribeV5("03"), V5, ReasonCode.ProtocolError);

    [Fact]
    public void Retain_handling_3_is_a_protocol_error() => AssertRejected(SubscribeV5("30"), V5, ReasonCode.ProtocolError);

    [Fact]
    public void No_local_on_a_shared_subscription_is_a_protocol_error() =>
        AssertRejected(SubscribeV5("04", "$share/g/a"), V5, ReasonCode.ProtocolError);

    [Fact]
    public void Packet_identifier_0_is_malformed()
    {
        AssertRejected(Frame(0x82, "0000" + "00" + Str("a") + "00"), V5, ReasonCode.MalformedPacket);
        AssertRejected(Frame(0x82, "0000" + Str("a") + "00"), V3, ReasonCode.MalformedPacket);
    }

    [Fact]
    public void Topic_filter_without_options_byte_is_malformed() => AssertRejected(Frame(0x82, "000A00" + Str("a")), V5, ReasonCode.MalformedPacket);

    [Theory]
    [InlineData("a/#/b")]
    [InlineData("a+")]
    [InlineData("")]
    [InlineData("$share/g")]
    public void Topic_filter_syntax_is_left_to_the_broker(string filter)
    {
        Assert.Equal(filter, Assert.IsType<SubscribePacket>(Decode(SubscribeV5("00", filter), V5)).Subscriptions[0].TopicFilter);
        Assert.Equal(filter, Assert.IsType<SubscribePacket>(Decode(SubscribeV3("00", filter), V3)).Subscriptions[0].TopicFilter);
    }

    [Fact]
    public void Unsubscribe_without_topic_filters_is_a_protocol_error()
    {
        // [MQTT-3.10.3-2]
        AssertRejected(Frame(0xA2, "000A00"), V5, ReasonCode.ProtocolError);
        AssertRejected(Frame(0xA2, "000A"), V3, ReasonCode.ProtocolError);
    }

    [Fact]
    public void Unsubscribe_packet_identifier_0_is_malformed()
    {
        AssertRejected(Frame(0xA2, "0000" + "00" + Str("a")), V5, ReasonCode.MalformedPacket);
        AssertRejected(Frame(0xA2, "0000" + Str("a")), V3, ReasonCode.MalformedPacket);
    }

    [Fact]
    public void Unsubscribe_truncated_filter_is_malformed() => AssertRejected(Frame(0xA2, "000A" + "0003" + "61"), V3, ReasonCode.MalformedPacket);
}
