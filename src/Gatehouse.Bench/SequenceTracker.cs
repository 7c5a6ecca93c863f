namespace Gatehouse.Bench;

/// <summary>
/// A growable set of sequence numbers (≥ 0) as a bit set in 64 Ki-bit chunks, so a long run allocates a chunk per
/// 65,536 messages and nothing per message.
/// </summary>
public sealed class SequenceSet
{
    private const int ChunkBits = 1 << 16;
    private const int ChunkWords = ChunkBits / 64;
    private ulong[]?[] _chunks = new ulong[]?[4];

    public long Count { get; private set; }

    /// <summary>Adds <paramref name="sequence"/>; false when it was already present.</summary>
    public bool Add(long sequence)
    {
        var chunkIndex = (int)(sequence >> 16);
        if (chunkIndex >= _chunks.Length) Array.Resize(ref _chunks, Math.Max(_chunks.Length * 2, chunkIndex + 1));
        var chunk = _chunks[chunkIndex] ??= new ulong[ChunkWords];
        var bit = (int)(sequence & (ChunkBits - 1));
        var mask = 1UL << (bit & 63);
        ref var word = ref chunk[bit >> 6];
        if ((word & mask) != 0) return false;
        word |= mask;
        Count++;
        return true;
    }

    public bool Contains(long sequence)
    {
        var chunkIndex = (int)(sequence >> 16);
        if (sequence < 0 || chunkIndex >= _chunks.Length || _chunks[chunkIndex] is not { } chunk) return false;
        var bit = (int)(sequence & (ChunkBits - 1));
        return (chunk[bit >> 6] & (1UL << (bit & 63))) != 0;
    }

    /// <summary>How many members of this set are missing from <paramref name="other"/>.</summary>
    public long CountMissingFrom(SequenceSet other)
    {
        long missing = 0;
        for (var c = 0; c < _chunks.Length; c++)
        {
            if (_chunks[c] is not { } mine) continue;
            var theirs = c < other._chunks.Length ? other._chunks[c] : null;
            for (var w = 0; w < ChunkWords; w++)
            {
                var bits = mine[w] & ~(theirs is null ? 0UL : theirs[w]);
                missing += System.Numerics.BitOperations.PopCount(bits);
            }
        }
        return missing;
    }

    /// <summary>How many of the sequences 1..<paramref name="last"/> are present.</summary>
    public long CountInRange(long last)
    {
        long count = 0;
        for (var s = 1L; s <= last;)
        {
            var chunkIndex = (int)(s >> 16);
            if (chunkIndex >= _chunks.Length) break;
            if (_chunks[chunkIndex] is not { } chunk)
            {
                s = ((long)chunkIndex + 1) << 16;
                continue;
            }
            var bit = (int)(s & (ChunkBits - 1));
            if ((bit & 63) == 0 && s + 63 <= last)
            {
                count += System.Numerics.BitOperations.PopCount(chunk[bit >> 6]);
                s += 64;
            }
            else
            {
                if ((chunk[bit >> 6] & (1UL << (bit & 63))) != 0) count++;
                s++;
            }
        }
        return count;
    }
}

/// <summary>
/// What one subscriber received from one publisher: unique sequences, duplicates (a sequence seen again) and
/// out-of-order arrivals (a sequence lower than one already seen). Single writer.
/// </summary>
public sealed class SequenceTracker
{
    public SequenceSet Seen { get; } = new();
    public long MaxSequence { get; private set; }
    public long Duplicates { get; private set; }
    public long OutOfOrder { get; private set; }

    /// <summary>Unique messages received; read by other threads for flow control (a torn read is harmless).</summary>
    public long Unique => Volatile.Read(ref _unique);
    private long _unique;

    public void Record(long sequence)
    {
        if (!Seen.Add(sequence))
        {
            Duplicates++;
            return;
        }
        Volatile.Write(ref _unique, _unique + 1);
        if (sequence < MaxSequence) OutOfOrder++;
        else MaxSequence = sequence;
    }

    /// <summary>Gaps below the highest sequence seen: messages lost if the publisher numbered from 1 without holes.</summary>
    public long Gaps => MaxSequence - Seen.CountInRange(MaxSequence);
}
