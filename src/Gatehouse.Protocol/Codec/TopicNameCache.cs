using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Gatehouse.Protocol.Codec;

/// <summary>
/// Topic Names recently decoded on this thread, with their UTF-8 bytes. Devices publish to the same few topics over and
/// over: a hit skips validating and transcoding the name and allocating a string for it, and the bytes let the PUBLISH
/// be encoded again (for each 3.1.1 subscriber it is shared with) by copying instead of transcoding.
/// Direct-mapped and bounded: <see cref="Slots"/> names of up to <see cref="MaxLength"/> bytes per thread (a few hundred KB
/// at most, typically a few KB). A name is admitted on its second sighting in a row for its slot, so topics seen once
/// (high-cardinality names) cost no copy and do not push out the hot ones.
/// </summary>
internal static class TopicNameCache
{
    private const int Slots = 512;
    private const int MaxLength = 128;

    [ThreadStatic] private static Entry[]? t_entries;

    /// <summary>
    /// The cached name equal to <paramref name="utf8"/> (valid MQTT UTF-8, checked when admitted). False when it is not
    /// cached, or not valid: the caller then decodes (and validates) as usual.
    /// </summary>
    public static bool TryGet(ReadOnlySpan<byte> utf8, [NotNullWhen(true)] out string? topic, [NotNullWhen(true)] out byte[]? bytes)
    {
        topic = null;
        bytes = null;
        if (utf8.IsEmpty || utf8.Length > MaxLength) return false;
        var entries = t_entries ??= new Entry[Slots];
        var hash = Hash(utf8);
        ref var entry = ref entries[hash & (Slots - 1)];
        if (entry.Utf8 is { } known && utf8.SequenceEqual(known))
        {
            topic = entry.Topic!;
            bytes = known;
            return true;
        }
        if (entry.Candidate != hash)
        {
            entry.Candidate = hash;
            return false;
        }
        if (!Utf8Validation.IsValidMqttString(utf8)) return false;
        bytes = utf8.ToArray();
        topic = Encoding.UTF8.GetString(utf8);
        entry.Utf8 = bytes;
        entry.Topic = topic;
        return true;
    }

    /// <summary>A cheap, deterministic hash of short byte strings (collisions only cost cache misses).</summary>
    private static uint Hash(ReadOnlySpan<byte> bytes)
    {
        ulong h = (ulong)bytes.Length * 0x9E3779B97F4A7C15;
        while (bytes.Length >= 8)
        {
            h = (h ^ BinaryPrimitives.ReadUInt64LittleEndian(bytes)) * 0xFF51AFD7ED558CCD;
            h ^= h >> 29;
            bytes = bytes[8..];
        }
        ulong tail = 0;
        for (var i = 0; i < bytes.Length; i++) tail |= (ulong)bytes[i] << (8 * i);
        h = (h ^ tail) * 0xC4CEB9FE1A85EC53;
        h ^= h >> 32;
        return (uint)h | 1; // never 0, the empty slot's candidate
    }

    private struct Entry
    {
        public byte[]? Utf8;
        public string? Topic;
        public uint Candidate;
    }
}
