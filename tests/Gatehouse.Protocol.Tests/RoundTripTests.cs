using Gatehouse.Protocol.Packets;
using Gatehouse.Protocol.Tests.Support;

namespace Gatehouse.Protocol.Tests;

public class RoundTripTests
{
    public static TheoryData<ProtocolVersion, string> EveryPacket()
    {
        var data = new TheoryData<ProtocolVersion, string>();
        foreach (var version in SamplePackets.Versions)
        {
            foreach (var (name, _) in SamplePackets.All(version)) data.Add(version, name);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(EveryPacket))]
    public void Every_packet_type_decodes_to_what_was_encoded_and_re_encodes_identically(ProtocolVersion version, string name)
    {
        var packet = Sample(version, name);

        var bytes = Wire.Encode(packet, version);
        var decoded = Wire.Decode(bytes, Wire.ReaderVersion(packet, version));

        Assert.Equal(packet.Type, decoded.Type);
        Assert.Equal(PacketDump.Describe(packet), PacketDump.Describe(decoded));
        Assert.Equal(bytes, Wire.Encode(decoded, version));
    }

    [Theory]
    [MemberData(nameof(EveryPacket))]
    public void GetSize_equals_the_number_of_bytes_Write_produces(ProtocolVersion version, string name)
    {
        var packet = Sample(version, name);
        Assert.Equal(Wire.Encode(packet, version).Length, Codec.PacketWriter.GetSize(packet, version));
    }

    [Theory]
    [InlineData(ProtocolVersion.V310, "MQIsdp")]
    [InlineData(ProtocolVersion.V311, "MQTT")]
    [InlineData(ProtocolVersion.V500, "MQTT")]
    public void Connect_carries_its_own_protocol_name_and_version(ProtocolVersion version, string expectedName)
    {
        var packet = (ConnectPacket)SamplePackets.Make("CONNECT", version);
        var decoded = Assert.IsType<ConnectPacket>(Wire.Decode(Wire.Encode(packet, version), version: null));
        Assert.Equal(version, decoded.ProtocolVersion);
        Assert.Equal(expectedName, decoded.ProtocolName);
    }

    [Fact]
    public void Decoded_byte_fields_are_copies_that_outlive_the_input_buffer()
    {
        var connect = (ConnectPacket)SamplePackets.Make("WILL", ProtocolVersion.V500, SamplePackets.AllFor("WILL"));
        var bytes = Wire.Encode(connect, ProtocolVersion.V500);
        var decoded = (ConnectPacket)Wire.Decode(bytes, version: null);
        var before = PacketDump.Describe(decoded);

        Array.Fill(bytes, (byte)0xAA);

        Assert.Equal(before, PacketDump.Describe(decoded));
    }

    [Fact]
    public void Large_publish_uses_a_multi_byte_remaining_length()
    {
        var packet = new PublishPacket { Topic = "big", Payload = new byte[300_000] };
        var bytes = Wire.Encode(packet, ProtocolVersion.V311);
        Assert.Equal(1 + 3 + 5 + 300_000, bytes.Length);
        var decoded = Assert.IsType<PublishPacket>(Wire.Decode(bytes, ProtocolVersion.V311));
        Assert.Equal(300_000, decoded.Payload.Length);
    }

    private static MqttPacket Sample(ProtocolVersion version, string name) =>
        SamplePackets.All(version).Single(p => p.Name == name).Packet;
}
