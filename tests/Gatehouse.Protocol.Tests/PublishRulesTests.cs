using Gatehouse.Protocol.Packets;
using Gatehouse.Protocol.Tests.Support;
using static Gatehouse.Protocol.Tests.Support.Rejection;
using static Gatehouse.Protocol.Tests.Support.Wire;

namespace Gatehouse.Protocol.Tests;

public class PublishRulesTests
{
    private const ProtocolVersion V3 = ProtocolVersion.V311;
    private const ProtocolVersion V5 = ProtocolVersion.V500;

    [Fact]
    public void Qos_3_is_malformed()
    {
        // [MQTT-3.3.1-4]
        AssertRejected(Frame(0x36, Str("t") + "0001" + "00"), V5, ReasonCode.MalformedPacket);
        AssertRejected(Frame(0x36, Str("t") + "0001"), V3, ReasonCode.MalformedPacket);
    }

    [Fact]
    public void Dup_with_qos_0_is_malformed()
    {
        // [MQTT-3.3.1-2]
        AssertRejected(Frame(0x38, Str("t") + "00"), V5, ReasonCode.MalformedPacket);
        AssertRejected(Frame(0x38, Str("t")), V3, ReasonCode.MalformedPacket);
    }

    [Theory]
    [InlineData(0x32)]
    [InlineData(0x34)]
    public void Packet_identifier_0_with_qos_above_0_is_malformed(byte first)
    {
        AssertRejected(Frame(first, Str("t") + "0000" + "00"), V5, ReasonCode.MalformedPacket);
        AssertRejected(Frame(first, Str("t") + "0000"), V3, ReasonCode.MalformedPacket);
    }

    [Theory]
    [InlineData("a/+")]
    [InlineData("a/#")]
    [InlineData("+")]
    [InlineData("sport+")]
    public void Topic_name_with_wildcards_is_topic_name_invalid_in_5_0_and_malformed_in_3_1_1(string topic)
    {
        // [MQTT-3.3.2-2]
        AssertRejected(Frame(0x30, Str(topic) + "00"), V5, ReasonCode.TopicNameInvalid);
        AssertRejected(Frame(0x30, Str(topic)), V3, ReasonCode.MalformedPacket);
    }

    [Fact]
    public void Empty_topic_without_topic_alias_is_a_protocol_error()
    {
        AssertRejected(Frame(0x30, Str("") + "00"), V5, ReasonCode.ProtocolError);
        AssertRejected(Frame(0x30, Str("") + "6869"), V3, ReasonCode.ProtocolError);
    }

    [Fact]
    public void Empty_topic_with_topic_alias_is_accepted_in_5_0()
    {
        var publish = Assert.IsType<PublishPacket>(Decode(Frame(0x30, Str("") + Props("230005") + "6869"), V5));
        Assert.Equal("", publish.Topic);
        Assert.Equal((ushort)5, publish.Properties!.TopicAlias);
    }

    [Fact]
    public void Payload_that_is_not_utf8_with_payload_format_indicator_1_is_payload_format_invalid()
    {
        AssertRejected(Frame(0x30, Str("t") + Props("0101") + "FF"), V5, ReasonCode.PayloadFormatInvalid);
        AssertRejected(Frame(0x30, Str("t") + Props("0101") + "EDA080"), V5, ReasonCode.PayloadFormatInvalid);
    }

    [Fact]
    public void Binary_payload_with_payload_format_indicator_0_is_accepted()
    {
        var publish = Assert.IsType<PublishPacket>(Decode(Frame(0x30, Str("t") + Props("0100") + "FF00"), V5));
        Assert.Equal(new byte[] { 0xFF, 0x00 }, publish.Payload.ToArray());
    }

    [Theory]
    [InlineData("1100000001")] // Session Expiry Interval
    [InlineData("1800000001")] // Will Delay Interval
    [InlineData("210001")] // Receive Maximum
    [InlineData("1F000161")] // Reason String
    [InlineData("150001 61")] // Authentication Method
    public void Property_not_allowed_in_publish_is_malformed(string property) =>
        AssertRejected(Frame(0x30, Str("t") + Props(property.Replace(" ", "", StringComparison.Ordinal))), V5, ReasonCode.MalformedPacket);

    [Fact]
    public void Topic_alias_0_is_a_protocol_error() => AssertRejected(Frame(0x30, Str("t") + Props("230000")), V5, ReasonCode.ProtocolError);

    [Fact]
    public void Subscription_identifier_0_is_a_protocol_error() => AssertRejected(Frame(0x30, Str("t") + Props("0B00")), V5, ReasonCode.ProtocolError);

    [Fact]
    public void Several_subscription_identifiers_are_allowed_in_publish()
    {
        var publish = Assert.IsType<PublishPacket>(Decode(Frame(0x30, Str("t") + Props("0B01 0B02 0BFFFFFF7F".Replace(" ", "", StringComparison.Ordinal))), V5));
        Assert.Equal([1u, 2u, 268_435_455u], publish.Properties!.SubscriptionIdentifiers!);
    }

    [Fact]
    public void Response_topic_with_wildcards_is_a_protocol_error() =>
        AssertRejected(Frame(0x30, Str("t") + Props("08" + Str("r/#"))), V5, ReasonCode.ProtocolError);

    [Fact]
    public void Topic_length_beyond_the_packet_is_malformed()
    {
        AssertRejected(Frame(0x30, "0005 61".Replace(" ", "", StringComparison.Ordinal)), V5, ReasonCode.MalformedPacket);
        AssertRejected(Frame(0x30, "00"), V3, ReasonCode.MalformedPacket);
    }

    [Fact]
    public void Missing_property_length_is_malformed() => AssertRejected(Frame(0x30, Str("t")), V5, ReasonCode.MalformedPacket);

    [Fact]
    public void Qos_0_publish_has_no_packet_identifier()
    {
        var publish = Assert.IsType<PublishPacket>(Decode(Frame(0x31, Str("t") + "0000"), V3));
        Assert.Equal(0, publish.PacketId);
        Assert.True(publish.Retain);
        Assert.Equal(new byte[] { 0, 0 }, publish.Payload.ToArray());
    }
}
