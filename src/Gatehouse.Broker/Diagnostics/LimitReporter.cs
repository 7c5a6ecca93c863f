using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Broker.Diagnostics;

/// <summary>
/// Logs when a configured limit is hit: the first time at once, then at most once per interval per limit with the
/// number of hits since, so a flood of drops cannot flood the log. The exact totals are in $SYS.
/// </summary>
public sealed class LimitReporter(ILogger log, TimeProvider time)
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public void Hit(string limit, string detail)
    {
        var entry = _entries.GetOrAdd(limit, static _ => new Entry());
        var suppressed = Interlocked.Increment(ref entry.Hits);
        var now = time.GetTimestamp();
        var last = Interlocked.Read(ref entry.LastLoggedTimestamp);
        if (last != 0 && time.GetElapsedTime(last, now) < Interval) return;
        if (Interlocked.CompareExchange(ref entry.LastLoggedTimestamp, now, last) != last) return;
        Interlocked.Exchange(ref entry.Hits, 0);
        log.LogWarning("Limit {Limit} hit ({Count} times since last report): {Detail}", limit, suppressed, detail);
    }

    private sealed class Entry
    {
        public long Hits;
        public long LastLoggedTimestamp;
    }
}
