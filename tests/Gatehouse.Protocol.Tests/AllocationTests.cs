using System.Buffers;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;
using Gatehouse.Protocol.Tests.Support;

namespace Gatehouse.Protocol.Tests;

/// <summary>Allocation budgets of the hot paths (QoS 0/1 PUBLISH without properties, from one segment or split across two).</summary>
public class AllocationTests
{
    private static readonly PublishPacket Publish = new() { Topic = "sensors/1/temp", Payload = new byte[16], QoS = QoS.AtLeastOnce, PacketId = 1 };

    [Theory]
    [InlineData(ProtocolVersion.V311)]
    [InlineData(ProtocolVersion.V500)]
    public void Decoding_a_publish_allocates_only_the_packet_topic_and_payload(ProtocolVersion version)
    {
        var bytes = Wire.Encode(Publish, version);
        Decode(bytes, version); // warm up
        var before = GC.GetAllocatedBytesForCurrentThread();
        const int rounds = 100;
        for (var i = 0; i < rounds; i++) Decode(bytes, version);
        var perPacket = (GC.GetAllocatedBytesForCurrentThread() - before) / rounds;

        // Measured 120 B: PublishPacket (80 B) + the 16-byte payload array (40 B); the topic string comes from the reader's
        // topic-name cache once seen twice. The budget leaves room for the string (56 B) the first sighting allocates.
        Assert.InRange(perPacket, 1, 200);
    }

    [Theory]
    [InlineData(ProtocolVersion.V311)]
    [InlineData(ProtocolVersion.V500)]
    public void Encoding_a_publish_allocates_nothing(ProtocolVersion version)
    {
        var output = new ArrayBufferWriter<byte>(4096);
        PacketWriter.Write(output, Publish, version); // warm up
        output.ResetWrittenCount();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            PacketWriter.Write(output, Publish, version);
            output.ResetWrittenCount();
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData(ProtocolVersion.V311)]
    [InlineData(ProtocolVersion.V500)]
    public void Decoding_a_publish_split_across_two_segments_allocates_no_more_than_decoding_it_whole(ProtocolVersion version)
    {
        var bytes = Wire.Encode(Publish, version);
        var whole = AllocatedPerDecode(new ReadOnlySequence<byte>(bytes), version);
        var split = AllocatedPerDecode(SegmentedSequence.Split(bytes, bytes.Length / 2), version);

        // Measured 120 B either way: PublishPacket (80 B) + the 16-byte payload array (40 B). The topic string comes from
        // the reader's topic-name cache, and a split body is gathered in a pooled array, not a new one (a new one: 176 B).
        const long budget = 120 + 8;
        Assert.InRange(whole, 1, budget);
        Assert.InRange(split, 1, budget);
    }

    private static long AllocatedPerDecode(ReadOnlySequence<byte> packet, ProtocolVersion version)
    {
        Decode(packet, version); // warm up (the second sighting of the topic puts it in the cache)
        Decode(packet, version);
        var before = GC.GetAllocatedBytesForCurrentThread();
        const int rounds = 100;
        for (var i = 0; i < rounds; i++) Decode(packet, version);
        return (GC.GetAllocatedBytesForCurrentThread() - before) / rounds;
    }

    private static void Decode(byte[] bytes, ProtocolVersion version) => Decode(new ReadOnlySequence<byte>(bytes), version);

    private static void Decode(ReadOnlySequence<byte> sequence, ProtocolVersion version)
    {
        if (!PacketReader.TryRead(ref sequence, version, uint.MaxValue, out _)) throw new InvalidOperationException();
    }
}
