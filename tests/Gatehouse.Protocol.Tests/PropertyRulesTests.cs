using Gatehouse.Protocol.Packets;
using Gatehouse.Protocol.Tests.Support;
using static Gatehouse.Protocol.Tests.Support.Rejection;
using static Gatehouse.Protocol.Tests.Support.Wire;

namespace Gatehouse.Protocol.Tests;

public class PropertyRulesTests
{
    private const ProtocolVersion V5 = ProtocolVersion.V500;

    private static byte[] Publish(string propertyBlock) => Frame(0x30, Str("t") + propertyBlock);

    private static byte[] Connect(string properties) => Frame(0x10, Str("MQTT") + "05" + "02" + "003C" + Props(properties) + Str("c"));

    private static byte[] ConnAck(string properties) => Frame(0x20, "00" + "00" + Props(properties));

    [Theory]
    [InlineData("05 0101")] // announces 5, holds 2
    [InlineData("7F")]
    public void Property_length_beyond_the_packet_is_malformed(string block) =>
        AssertRejected(Publish(block.Replace(" ", "", StringComparison.Ordinal)), V5, ReasonCode.MalformedPacket);

    [Fact]
    public void Non_minimal_property_length_is_malformed() => AssertRejected(Publish("8000"), V5, ReasonCode.MalformedPacket);

    [Theory]
    [InlineData("0500")]
    [InlineData("0000")]
    [InlineData("2B00")]
    [InlineData("8001")]
    [InlineData("FF00")]
    public void Unknown_property_identifier_is_malformed(string property) =>
        AssertRejected(Publish(Props(property)), V5, ReasonCode.MalformedPacket);

    [Theory]
    [InlineData("02")] // Four Byte Integer with no bytes
    [InlineData("020000")] // Four Byte Integer with two bytes
    [InlineData("030005 6162")] // string longer than the block
    [InlineData("2600016100")] // user property with a truncated value
    [InlineData("0B80")] // truncated Variable Byte Integer
    public void Property_value_beyond_the_property_block_is_malformed(string property) =>
        AssertRejected(Publish(Props(property.Replace(" ", "", StringComparison.Ordinal))), V5, ReasonCode.MalformedPacket);

    [Theory]
    [InlineData("0101 0100")] // Payload Format Indicator
    [InlineData("0200000001 0200000002")] // Message Expiry Interval
    [InlineData("03000161 03000162")] // Content Type
    [InlineData("230001 230002")] // Topic Alias
    [InlineData("09000101 09000102")] // Correlation Data
    public void Property_repeated_in_publish_is_a_protocol_error(string properties) =>
        AssertRejected(Publish(Props(properties.Replace(" ", "", StringComparison.Ordinal))), V5, ReasonCode.ProtocolError);

    [Theory]
    [InlineData("1100000001 1100000002")] // Session Expiry Interval
    [InlineData("210001 210002")] // Receive Maximum
    [InlineData("1700 1701")] // Request Problem Information
    [InlineData("15000161 15000162")] // Authentication Method
    public void Property_repeated_in_connect_is_a_protocol_error(string properties) =>
        AssertRejected(Connect(properties.Replace(" ", "", StringComparison.Ordinal)), null, ReasonCode.ProtocolError);

    [Fact]
    public void Subscription_identifier_repeated_in_subscribe_is_a_protocol_error() =>
        AssertRejected(Frame(0x82, "0001" + Props("0B01 0B02".Replace(" ", "", StringComparison.Ordinal)) + Str("a") + "00"), V5, ReasonCode.ProtocolError);

    [Fact]
    public void User_property_may_repeat()
    {
        var publish = Assert.IsType<PublishPacket>(Decode(Publish(Props("26" + Str("k") + Str("1") + "26" + Str("k") + Str("1"))), V5));
        Assert.Equal([new UserProperty("k", "1"), new UserProperty("k", "1")], publish.Properties!.UserProperties!);
    }

    [Theory]
    [InlineData("210000")] // Receive Maximum 0
    [InlineData("2700000000")] // Maximum Packet Size 0
    [InlineData("1702")] // Request Problem Information 2
    [InlineData("1902")] // Request Response Information 2
    [InlineData("17FF")]
    public void Connect_property_value_out_of_range_is_a_protocol_error(string property) =>
        AssertRejected(Connect(property), null, ReasonCode.ProtocolError);

    [Theory]
    [InlineData("2402")] // Maximum QoS 2
    [InlineData("2502")] // Retain Available
    [InlineData("2802")] // Wildcard Subscription Available
    [InlineData("2902")] // Subscription Identifier Available
    [InlineData("2A02")] // Shared Subscription Available
    [InlineData("210000")] // Receive Maximum 0
    [InlineData("2700000000")] // Maximum Packet Size 0
    public void Connack_property_value_out_of_range_is_a_protocol_error(string property) =>
        AssertRejected(ConnAck(property), V5, ReasonCode.ProtocolError);

    [Fact]
    public void Payload_format_indicator_other_than_0_or_1_is_a_protocol_error() =>
        AssertRejected(Publish(Props("0102")), V5, ReasonCode.ProtocolError);

    [Fact]
    public void Subscription_identifier_0_in_subscribe_is_a_protocol_error() =>
        AssertRejected(Frame(0x82, "0001" + Props("0B00") + Str("a") + "00"), V5, ReasonCode.ProtocolError);

    [Theory]
    [InlineData(0x40)] // PUBACK
    [InlineData(0x50)] // PUBREC
    [InlineData(0x62)] // PUBREL
    [InlineData(0x70)] // PUBCOMP
    public void Publish_flow_packets_allow_only_reason_string_and_user_properties(byte first)
    {
        Assert.NotNull(Decode(Frame(first, "0001 00".Replace(" ", "", StringComparison.Ordinal) + Props("1F" + Str("r") + "26" + Str("a") + Str("b"))), V5));
        AssertRejected(Frame(first, "000100" + Props("0101")), V5, ReasonCode.MalformedPacket);
        AssertRejected(Frame(first, "000100" + Props("1100000001")), V5, ReasonCode.MalformedPacket);
    }

    [Fact]
    public void Disconnect_allows_session_expiry_but_not_topic_alias()
    {
        var disconnect = Assert.IsType<DisconnectPacket>(Decode(Frame(0xE0, "00" + Props("1100000005")), V5));
        Assert.Equal(5u, disconnect.Properties!.SessionExpiryInterval);
        AssertRejected(Frame(0xE0, "00" + Props("230001")), V5, ReasonCode.MalformedPacket);
    }

    [Fact]
    public void Subscribe_does_not_allow_reason_string() =>
        AssertRejected(Frame(0x82, "0001" + Props("1F" + Str("r")) + Str("a") + "00"), V5, ReasonCode.MalformedPacket);

    [Fact]
    public void Auth_does_not_allow_session_expiry() =>
        AssertRejected(Frame(0xF0, "18" + Props("1100000001")), V5, ReasonCode.MalformedPacket);
}
