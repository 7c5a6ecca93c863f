using System.Buffers;

namespace Gatehouse.Benchmarks;

/// <summary>
/// A packet's bytes as two chained segments, the way a transport's pipe hands over a packet that straddled two socket
/// reads. Built once per benchmark: the segments are immutable, so the same sequence can be decoded again and again.
/// </summary>
internal static class SplitSequence
{
    public static ReadOnlySequence<byte> InTwo(byte[] bytes, int at)
    {
        var head = new Segment(bytes.AsMemory(0, at), runningIndex: 0);
        var tail = new Segment(bytes.AsMemory(at), runningIndex: at);
        head.Link(tail);
        return new ReadOnlySequence<byte>(head, 0, tail, tail.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public void Link(Segment next) => Next = next;
    }
}
