using System.Buffers;

namespace Gatehouse.Protocol.Tests.Support;

/// <summary>Builds multi-segment <see cref="ReadOnlySequence{T}"/>s to exercise the slow parsing paths.</summary>
internal static class SegmentedSequence
{
    public static ReadOnlySequence<byte> Create(params byte[][] segments)
    {
        if (segments.Length == 0) return ReadOnlySequence<byte>.Empty;
        var first = new Segment(segments[0], 0);
        var last = first;
        for (var i = 1; i < segments.Length; i++) last = last.Append(segments[i]);
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>Splits the bytes at the given offsets (ascending).</summary>
    public static ReadOnlySequence<byte> Split(byte[] bytes, params int[] offsets)
    {
        var parts = new List<byte[]>();
        var start = 0;
        foreach (var offset in offsets)
        {
            parts.Add(bytes[start..offset]);
            start = offset;
        }
        parts.Add(bytes[start..]);
        return Create([.. parts]);
    }

    /// <summary>Every byte in its own segment.</summary>
    public static ReadOnlySequence<byte> OneBytePerSegment(byte[] bytes) =>
        bytes.Length == 0 ? ReadOnlySequence<byte>.Empty : Create([.. bytes.Select(b => new[] { b })]);

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
