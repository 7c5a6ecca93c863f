using System.Buffers.Binary;

namespace Gatehouse.Bench;

/// <summary>
/// The bench payload: a 2-byte marker "GB", the publisher index (uint32), the publisher's sequence number (int64,
/// from 1) and the send time (<see cref="System.Diagnostics.Stopwatch"/> ticks, int64, monotonic and shared by
/// every process on the machine), all little-endian, then filler up to the requested size.
/// </summary>
public static class Payload
{
    public const int MinSize = 22;
    public const int PublisherOffset = 2;
    public const int SequenceOffset = 6;
    public const int TimestampOffset = 14;
    private const byte Marker0 = (byte)'G';
    private const byte Marker1 = (byte)'B';

    /// <summary>A payload of <paramref name="size"/> bytes (at least <see cref="MinSize"/>) for a publisher.</summary>
    public static byte[] Create(int size, uint publisher)
    {
        var bytes = new byte[Math.Max(size, MinSize)];
        bytes.AsSpan(MinSize).Fill((byte)'x');
        bytes[0] = Marker0;
        bytes[1] = Marker1;
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(PublisherOffset), publisher);
        return bytes;
    }

    public static void Stamp(Span<byte> payload, long sequence, long timestamp)
    {
        BinaryPrimitives.WriteInt64LittleEndian(payload[SequenceOffset..], sequence);
        BinaryPrimitives.WriteInt64LittleEndian(payload[TimestampOffset..], timestamp);
    }

    public static bool TryRead(ReadOnlySpan<byte> payload, out uint publisher, out long sequence, out long timestamp)
    {
        if (payload.Length < MinSize || payload[0] != Marker0 || payload[1] != Marker1)
        {
            publisher = 0;
            sequence = timestamp = 0;
            return false;
        }
        publisher = BinaryPrimitives.ReadUInt32LittleEndian(payload[PublisherOffset..]);
        sequence = BinaryPrimitives.ReadInt64LittleEndian(payload[SequenceOffset..]);
        timestamp = BinaryPrimitives.ReadInt64LittleEndian(payload[TimestampOffset..]);
        return true;
    }
}
