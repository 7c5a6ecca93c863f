using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;
using Gatehouse.Protocol.Tests.Support;

namespace Gatehouse.Protocol.Tests;

public class WriterVersionMappingTests
{
    [Theory]
    [InlineData(ReasonCode.Success, 0)]
    [InlineData(ReasonCode.UnsupportedProtocolVersion, 1)]
    [InlineData(ReasonCode.ClientIdentifierNotValid, 2)]
    [InlineData(ReasonCode.ServerUnavailable, 3)]
    [InlineData(ReasonCode.ServerBusy, 3)]
    [InlineData(ReasonCode.UnspecifiedError, 3)]
    [InlineData(ReasonCode.QuotaExceeded, 3)]
    [InlineData(ReasonCode.BadUserNameOrPassword, 4)]
    [InlineData(ReasonCode.NotAuthorized, 5)]
    public void ConnAck_3_1_1_maps_reason_codes_to_return_codes(ReasonCode reasonCode, byte returnCode)
    {
        var bytes = Wire.Encode(new ConnAckPacket { ReasonCode = reasonCode }, ProtocolVersion.V311);
        Assert.Equal(new byte[] { 0x20, 0x02, 0x00, returnCode }, bytes);
    }

    [Fact]
    public void ConnAck_3_1_has_no_session_present_flag()
    {
        var bytes = Wire.Encode(new ConnAckPacket { SessionPresent = true }, ProtocolVersion.V310);
        Assert.Equal(Wire.Hex("20 02 00 00"), bytes);
    }

    [Theory]
    [InlineData("CONNECT")]
    [InlineData("WILL")]
    [InlineData("CONNACK")]
    [InlineData("PUBLISH")]
    [InlineData("PUBACK")]
    [InlineData("PUBREC")]
    [InlineData("PUBREL")]
    [InlineData("PUBCOMP")]
    [InlineData("SUBSCRIBE")]
    [InlineData("SUBACK")]
    [InlineData("UNSUBSCRIBE")]
    [InlineData("UNSUBACK")]
    [InlineData("DISCONNECT")]
    public void Version_3_encoding_omits_properties_reason_codes_and_5_0_options(string location)
    {
        var full = SamplePackets.Make(location, ProtocolVersion.V500, SamplePackets.AllFor(location));
        var stripped = SamplePackets.Make(location, ProtocolVersion.V311);
        var fullBytes = Wire.Encode(full, ProtocolVersion.V311);
        // The 5.0 sample differs from the 3.1.1 one only in what 3.1.1 cannot express.
        Assert.Equal(Wire.Encode(stripped, ProtocolVersion.V311), fullBytes);
        Wire.Decode(fullBytes, Wire.ReaderVersion(full, ProtocolVersion.V311));
    }

    [Fact]
    public void Auth_cannot_be_encoded_for_3_1_1()
    {
        Assert.Throws<ArgumentException>(() => PacketWriter.GetSize(new AuthPacket(), ProtocolVersion.V311));
    }

    [Fact]
    public void Oversized_string_is_rejected_by_the_writer()
    {
        var publish = new PublishPacket { Topic = new string('a', 70_000) };
        Assert.Throws<ArgumentException>(() => PacketWriter.GetSize(publish, ProtocolVersion.V500));
    }
}
