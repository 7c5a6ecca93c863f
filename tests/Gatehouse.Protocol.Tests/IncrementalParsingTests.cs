using System.Buffers;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;
using Gatehouse.Protocol.Tests.Support;

namespace Gatehouse.Protocol.Tests;

public class IncrementalParsingTests
{
    public static TheoryData<ProtocolVersion, string> EveryPacket() => RoundTripTests.EveryPacket();

    [Theory]
    [MemberData(nameof(EveryPacket))]
    public void Packet_split_at_every_byte_boundary_decodes_identically(ProtocolVersion version, string name)
    {
        var (packet, bytes, readerVersion) = Prepare(version, name);
        var expected = PacketDump.Describe(packet);

        for (var split = 1; split < bytes.Length; split++)
        {
            AssertDecodes(SegmentedSequence.Split(bytes, split), readerVersion, expected, $"split at {split}");
        }
        // Three segments with the fixed header torn apart, and one byte per segment.
        if (bytes.Length > 3) AssertDecodes(SegmentedSequence.Split(bytes, 1, 2), readerVersion, expected, "split at 1 and 2");
        AssertDecodes(SegmentedSequence.OneBytePerSegment(bytes), readerVersion, expected, "one byte per segment");
    }

    [Theory]
    [MemberData(nameof(EveryPacket))]
    public void Every_strict_prefix_needs_more_data_and_consumes_nothing(ProtocolVersion version, string name)
    {
        var (_, bytes, readerVersion) = Prepare(version, name);

        for (var length = 0; length < bytes.Length; length++)
        {
            var prefix = bytes[..length];
            AssertNeedsMore(new ReadOnlySequence<byte>(prefix), readerVersion, length);
            AssertNeedsMore(SegmentedSequence.OneBytePerSegment(prefix), readerVersion, length);
        }
    }

    [Fact]
    public void A_stream_of_packets_is_decoded_in_order_across_one_byte_segments()
    {
        var packets = SamplePackets.All(ProtocolVersion.V500).Where(p => p.Packet is not ConnectPacket).Select(p => p.Packet).ToList();
        var stream = packets.SelectMany(p => Wire.Encode(p, ProtocolVersion.V500)).ToArray();
        var sequence = SegmentedSequence.OneBytePerSegment(stream);

        var decoded = new List<MqttPacket>();
        while (PacketReader.TryRead(ref sequence, ProtocolVersion.V500, Wire.NoLimit, out var packet)) decoded.Add(packet!);

        Assert.True(sequence.IsEmpty);
        Assert.Equal(packets.Select(PacketDump.Describe), decoded.Select(PacketDump.Describe));
    }

    private static (MqttPacket Packet, byte[] Bytes, ProtocolVersion? ReaderVersion) Prepare(ProtocolVersion version, string name)
    {
        var packet = SamplePackets.All(version).Single(p => p.Name == name).Packet;
        return (packet, Wire.Encode(packet, version), Wire.ReaderVersion(packet, version));
    }

    private static void AssertDecodes(ReadOnlySequence<byte> sequence, ProtocolVersion? version, string expected, string because)
    {
        Assert.True(PacketReader.TryRead(ref sequence, version, Wire.NoLimit, out var packet), because);
        Assert.True(sequence.IsEmpty, because);
        Assert.Equal(expected, PacketDump.Describe(packet));
    }

    private static void AssertNeedsMore(ReadOnlySequence<byte> sequence, ProtocolVersion? version, int length)
    {
        var original = sequence;
        Assert.False(PacketReader.TryRead(ref sequence, version, Wire.NoLimit, out var packet), $"prefix of {length} bytes");
        Assert.Null(packet);
        Assert.Equal(original.Start, sequence.Start);
        Assert.Equal(original.End, sequence.End);
    }
}
