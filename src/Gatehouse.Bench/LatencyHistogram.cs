namespace Gatehouse.Bench;

/// <summary>
/// A log-linear histogram of non-negative values (microseconds), in the manner of HdrHistogram: values below 128
/// are exact, larger ones fall into buckets 1/64 of their power of two wide (relative error under 1.6 %).
/// Single writer; <see cref="Add"/> merges. Percentiles report the highest value of the bucket (never an
/// underestimate); the maximum is kept exactly.
/// </summary>
public sealed class LatencyHistogram
{
    private const int SubBuckets = 64;          // buckets per power of two above the linear range
    private const int LinearLimit = 2 * SubBuckets; // values 0..127 have a bucket each
    private const int MaxShift = 63 - 7;

    private readonly long[] _counts = new long[LinearLimit + (MaxShift + 1) * SubBuckets];

    public long Count { get; private set; }
    public long Max { get; private set; }
    public long Min { get; private set; } = long.MaxValue;
    public double Sum { get; private set; }

    public void Record(long value)
    {
        if (value < 0) value = 0;
        _counts[IndexOf(value)]++;
        Count++;
        Sum += value;
        if (value > Max) Max = value;
        if (value < Min) Min = value;
    }

    public void Add(LatencyHistogram other)
    {
        for (var i = 0; i < _counts.Length; i++) _counts[i] += other._counts[i];
        Count += other.Count;
        Sum += other.Sum;
        if (other.Count > 0)
        {
            Max = Math.Max(Max, other.Max);
            Min = Math.Min(Min, other.Min);
        }
    }

    public double Mean => Count == 0 ? 0 : Sum / Count;

    /// <summary>The smallest recorded bucket value v such that at least <paramref name="percentile"/> % of the values are ≤ v.</summary>
    public long Percentile(double percentile)
    {
        if (Count == 0) return 0;
        var rank = (long)Math.Ceiling(percentile / 100.0 * Count);
        if (rank < 1) rank = 1;
        long seen = 0;
        for (var i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank) return Math.Min(HighestValueOf(i), Max);
        }
        return Max;
    }

    internal static int IndexOf(long value)
    {
        if (value < LinearLimit) return (int)value;
        var shift = 63 - System.Numerics.BitOperations.LeadingZeroCount((ulong)value) - 6; // ≥ 1
        var mantissa = (int)(value >> shift); // 64..127
        return LinearLimit + (shift - 1) * SubBuckets + (mantissa - SubBuckets);
    }

    internal static long HighestValueOf(int index)
    {
        if (index < LinearLimit) return index;
        var shift = (index - LinearLimit) / SubBuckets + 1;
        var mantissa = (index - LinearLimit) % SubBuckets + SubBuckets;
        return (((long)mantissa + 1) << shift) - 1;
    }
}
