using System.Buffers;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;
using Gatehouse.Protocol.Tests.Support;

namespace Gatehouse.Protocol.Tests;

/// <summary>Allocation budgets of the hot paths (single-segment input, QoS 0/1 PUBLISH without properties).</summary>
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

        // PublishPacket (~72 B) + 14-char string (~56 B) + 16-byte array (~40 B).
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

    private static void Decode(byte[] bytes, ProtocolVersion version)
    {
        var sequence = new ReadOnlySequence<byte>(bytes);
        if (!PacketReader.TryRead(ref sequence, version, uint.MaxValue, out _)) throw new InvalidOperationException();
    }
}
