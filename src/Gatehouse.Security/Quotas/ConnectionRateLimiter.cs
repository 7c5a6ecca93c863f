using System.Collections.Concurrent;

namespace Gatehouse.Security.Quotas;

/// <summary>
/// CONNECTs per second per listener and per source address ("Security:ConnectionRate"), as token buckets. Over the
/// rate: CONNACK 0x9F (Connection rate exceeded; 3.1.1 return code 3) before authentication.
/// </summary>
public sealed class ConnectionRateLimiter(ConnectionRateOptions options, TimeProvider time)
{
    private const int MaxAddresses = 100_000;
    private readonly ConcurrentDictionary<string, TokenBucket> _listeners = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TokenBucket> _addresses = new(StringComparer.Ordinal);

    public bool Enabled => options.PerListenerPerSecond > 0 || options.PerAddressPerSecond > 0;

    /// <summary>Takes one connection from both budgets; returns which one ran out ("listener"/"address") or null.</summary>
    public string? TryAdmit(string listener, string? address)
    {
        if (options.PerListenerPerSecond > 0)
        {
            var bucket = _listeners.GetOrAdd(listener, _ => New(options.PerListenerPerSecond, options.PerListenerBurst));
            if (!bucket.TryTake()) return "listener";
        }
        if (options.PerAddressPerSecond > 0 && address is not null)
        {
            if (_addresses.Count >= MaxAddresses) Prune();
            var bucket = _addresses.GetOrAdd(address, _ => New(options.PerAddressPerSecond, options.PerAddressBurst));
            if (!bucket.TryTake()) return "address";
        }
        return null;
    }

    private TokenBucket New(double rate, double burst) => new(rate, burst > 0 ? burst : rate, time);

    /// <summary>A full bucket carries no information: forget it.</summary>
    private void Prune()
    {
        foreach (var (address, bucket) in _addresses)
        {
            if (bucket.Available >= bucket.Burst) _addresses.TryRemove(address, out _);
        }
    }
}
