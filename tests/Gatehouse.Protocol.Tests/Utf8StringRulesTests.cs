using Gatehouse.Protocol.Packets;
using Gatehouse.Protocol.Tests.Support;
using static Gatehouse.Protocol.Tests.Support.Rejection;
using static Gatehouse.Protocol.Tests.Support.Wire;

namespace Gatehouse.Protocol.Tests;

public class Utf8StringRulesTests
{
    private const ProtocolVersion V5 = ProtocolVersion.V500;

    private static byte[] PublishWithTopicBytes(string topicHex) => Frame(0x30, Bin(Hex(topicHex)) + "00");

    [Theory]
    [InlineData("6100")] // U+0000 [MQTT-1.5.4-2]
    [InlineData("C080")] // overlong U+0000
    [InlineData("EDA080")] // U+D800, a surrogate [MQTT-1.5.4-1]
    [InlineData("EDBFBF")] // U+DFFF
    [InlineData("E282")] // truncated sequence
    [InlineData("FF")] // never valid
    [InlineData("80")] // lone continuation byte
    [InlineData("F4908080")] // above U+10FFFF
    [InlineData("E08080")] // overlong
    public void Ill_formed_utf8_or_null_character_is_malformed(string bytes)
    {
        AssertRejected(PublishWithTopicBytes(bytes), V5, ReasonCode.MalformedPacket);
        AssertRejected(Frame(0x30, Bin(Hex(bytes))), ProtocolVersion.V311, ReasonCode.MalformedPacket);
    }

    [Theory]
    [InlineData("01", "\u0001")] // control characters are only SHOULD NOT
    [InlineData("7F", "\u007F")]
    [InlineData("C280", "\u0080")]
    [InlineData("C29F", "\u009F")]
    [InlineData("EFBFBF", "\uFFFF")] // non-character
    [InlineData("F09F9880", "\U0001F600")] // supplementary plane
    public void Control_characters_and_non_characters_are_accepted(string bytes, string expected)
    {
        var publish = Assert.IsType<PublishPacket>(Decode(PublishWithTopicBytes(bytes), V5));
        Assert.Equal(expected, publish.Topic);
    }

    [Fact]
    public void Byte_order_mark_is_kept_as_U_FEFF()
    {
        // [MQTT-1.5.4-3]: 0xEF 0xBB 0xBF MUST NOT be skipped or stripped.
        var publish = Assert.IsType<PublishPacket>(Decode(PublishWithTopicBytes("EFBBBF61"), V5));
        Assert.Equal("\uFEFFa", publish.Topic);
    }

    [Fact]
    public void Strings_inside_properties_are_validated() =>
        AssertRejected(Frame(0x30, Str("t") + Props("26" + Str("k") + "0001" + "00")), V5, ReasonCode.MalformedPacket);

    [Fact]
    public void Topic_filters_are_validated() =>
        AssertRejected(Frame(0x82, "0001" + "00" + "0002EDA080" + "00"), V5, ReasonCode.MalformedPacket);

    [Fact]
    public void User_name_is_validated() =>
        AssertRejected(Frame(0x10, Str("MQTT") + "04" + "82" + "003C" + Str("c") + "0001FF"), null, ReasonCode.MalformedPacket);
}
