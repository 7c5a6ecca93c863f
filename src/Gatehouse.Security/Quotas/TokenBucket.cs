namespace Gatehouse.Security.Quotas;

/// <summary>
/// A token bucket: <see cref="Rate"/> tokens per second refill it up to <see cref="Burst"/>. Thread-safe (one short
/// lock, shared by all connections of an identity), allocation-free. Time comes from a <see cref="TimeProvider"/>
/// timestamp, so tests drive it with a fake clock.
/// </summary>
public sealed class TokenBucket
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly double _tokensPerTick;
    private double _tokens;
    private long _last;

    /// <param name="rate">Tokens added per second (&gt; 0).</param>
    /// <param name="burst">Capacity; the bucket starts full. At least 1.</param>
    public TokenBucket(double rate, double burst, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rate);
        Rate = rate;
        Burst = Math.Max(1, burst);
        _time = time;
        _tokensPerTick = rate / time.TimestampFrequency;
        _tokens = Burst;
        _last = time.GetTimestamp();
    }

    public double Rate { get; }
    public double Burst { get; }

    /// <summary>Tokens available now (may be negative: debt left by an amount larger than the burst).</summary>
    public double Available
    {
        get
        {
            lock (_lock)
            {
                Refill();
                return _tokens;
            }
        }
    }

    /// <summary>
    /// Takes <paramref name="amount"/> tokens if they are there. An amount larger than the burst passes when the bucket
    /// is full and leaves a debt, so a big message is not refused forever but still costs its full size.
    /// </summary>
    public bool TryTake(double amount = 1)
    {
        lock (_lock)
        {
            Refill();
            if (_tokens < Math.Min(amount, Burst)) return false;
            _tokens -= amount;
            return true;
        }
    }

    private void Refill()
    {
        var now = _time.GetTimestamp();
        var elapsed = now - _last;
        if (elapsed <= 0) return;
        _last = now;
        _tokens = Math.Min(Burst, _tokens + elapsed * _tokensPerTick);
    }
}
