namespace Gatehouse.Broker.Diagnostics;

/// <summary>
/// The broker-wide bound on memory spent queueing messages (<see cref="BrokerOptions.HeapLimitBytes"/>). Per-session
/// limits do not bound the sum: a thousand offline sessions behind a busy topic could each fill theirs, and a broker the
/// kernel kills for it would reload the same queues from its store at the next start and be killed again. Past the
/// limit no message is queued for any session (each refusal counted and reported as a full queue is; a 5.0 publisher
/// gets 0x97), while clients that keep up still get theirs, until the heap is under the limit again.
/// </summary>
/// <remarks>
/// The heap is sampled by housekeeping (every 250 ms), and also as soon as what was queued since the last sample may
/// have carried it past the limit (<see cref="TryAdmit"/>): between two ticks a fast publisher carried 64 KiB messages
/// 130 MiB past a 96 MiB limit. The heap size counts garbage until a collection finds it: while over the limit a background
/// collection is asked for now and then (every 5 s at first, backing off to a minute while it stays full), so the limit
/// lifts soon after queues drain without scanning a full heap often.
/// </remarks>
public sealed class HeapLimit(long limitBytes, LimitReporter limits, TimeProvider time)
{
    private static readonly TimeSpan FirstCollection = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan LongestCollectionInterval = TimeSpan.FromMinutes(1);

    /// <summary>What a queued message costs besides its payload: its delivery, message and array objects.</summary>
    internal const int PerMessageBytes = 256;

    private readonly Lock _gate = new();
    private volatile bool _reached;
    // The heap's size at the last sample, and the bytes queued since: payload plus PerMessageBytes for every session
    // that queued a message, though sessions share it (an overestimate, so the limit is never passed unseen).
    private long _sampled;
    private long _queuedSinceSample;
    private long _nextCollection;
    private TimeSpan _collectionInterval = FirstCollection;

    /// <summary>The limit in effect: the configured one, or 75 % of the memory available to the process (the container's limit when there is one).</summary>
    public long LimitBytes { get; } = limitBytes > 0 ? limitBytes : GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4 * 3;

    /// <summary>True while the heap is over the limit: nothing more is queued.</summary>
    public bool IsReached => _reached;

    /// <summary>
    /// Whether a message of <paramref name="payloadBytes"/> may be queued: false while the limit is reached. When what
    /// was queued since the last sample may have carried the heap past the limit, the heap is sampled now.
    /// </summary>
    public bool TryAdmit(int payloadBytes)
    {
        if (_reached) return false;
        var estimate = Volatile.Read(ref _sampled) + Interlocked.Add(ref _queuedSinceSample, payloadBytes + PerMessageBytes);
        if (estimate < LimitBytes) return true;
        // An overestimate when sessions share a message; the sample decides.
        Check();
        return !_reached;
    }

    /// <summary>Called by housekeeping on every tick.</summary>
    public void Check() => Update(GC.GetTotalMemory(forceFullCollection: false));

    /// <summary>One sample; the heap size is a parameter so tests can drive it.</summary>
    internal void Update(long heapBytes)
    {
        var now = time.GetTimestamp();
        lock (_gate)
        {
            // The sample includes what was queued before it: the estimate starts again from it.
            Volatile.Write(ref _sampled, heapBytes);
            Interlocked.Exchange(ref _queuedSinceSample, 0);
            if (heapBytes < LimitBytes)
            {
                _reached = false;
                _collectionInterval = FirstCollection;
                return;
            }
            if (!_reached)
            {
                _reached = true;
                _nextCollection = now + Ticks(FirstCollection);
                limits.Hit(nameof(BrokerOptions.HeapLimitBytes),
                    $"managed heap {heapBytes / (1024 * 1024):N0} MiB, limit {LimitBytes / (1024 * 1024):N0} MiB; no message is queued for any session until it is under");
                return;
            }
            if (now < _nextCollection) return;
            _collectionInterval = TimeSpan.FromTicks(Math.Min(_collectionInterval.Ticks * 2, LongestCollectionInterval.Ticks));
            _nextCollection = now + Ticks(_collectionInterval);
        }
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: false);
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * time.TimestampFrequency);
}
