namespace Gatehouse.Security.Quotas;

/// <summary>
/// The budget of one identity, shared by all its connections: message and byte token buckets, connected client ids,
/// subscriptions held by its connected sessions. A principal without limits has no <see cref="IdentityQuota"/> at all,
/// so the broker's hot path pays one null test.
/// </summary>
public sealed class IdentityQuota
{
    private readonly TimeProvider _time;
    private readonly Dictionary<string, int> _clients = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private volatile Budget _budget;
    private int _subscriptions;
    private int _retainedMessages;
    private long _retainedBytes;
    private long _rateLimited;
    private long _lastAudit = long.MinValue;

    public IdentityQuota(string name, LimitsOptions limits, TimeProvider time)
    {
        Name = name;
        _time = time;
        _budget = new Budget(limits, time);
    }

    public string Name { get; }
    public LimitsOptions Limits => _budget.Limits;
    /// <summary>PUBLISH packets refused or dropped for the message or byte rate.</summary>
    public long RateLimited => Interlocked.Read(ref _rateLimited);
    public int Subscriptions => Volatile.Read(ref _subscriptions);
    public int Sessions
    {
        get { lock (_lock) return _clients.Count; }
    }

    /// <summary>New limits (the identity's metadata or the defaults changed); the counters stay, buckets start full.</summary>
    public void Apply(LimitsOptions limits)
    {
        if (!Same(limits, _budget.Limits)) _budget = new Budget(limits, _time);
    }

    /// <summary>One PUBLISH of <paramref name="bytes"/> bytes (topic + payload): false = over the message or byte rate.</summary>
    public bool TryPublish(int bytes)
    {
        var budget = _budget;
        if (budget.Messages is { } messages && !messages.TryTake()) return RateLimit();
        if (budget.Bytes is { } byteBucket && !byteBucket.TryTake(bytes)) return RateLimit();
        return true;
    }

    private bool RateLimit()
    {
        Interlocked.Increment(ref _rateLimited);
        return false;
    }

    /// <summary>Whether a rate-limit event should be audited now: at most one row per identity per second.</summary>
    public bool ShouldAudit()
    {
        var now = _time.GetTimestamp();
        var last = Interlocked.Read(ref _lastAudit);
        if (last != long.MinValue && now - last < _time.TimestampFrequency) return false;
        return Interlocked.CompareExchange(ref _lastAudit, now, last) == last;
    }

    /// <summary>
    /// A connection with <paramref name="clientId"/> is accepted. A client id already connected (a takeover) does not
    /// count twice; a new one beyond <see cref="LimitsOptions.MaxSessions"/> is refused (CONNACK 0x97).
    /// </summary>
    public bool TryAcquireSession(string clientId)
    {
        var max = _budget.Limits.MaxSessions;
        lock (_lock)
        {
            _clients.TryGetValue(clientId, out var count);
            if (count == 0 && max > 0 && _clients.Count >= max) return false;
            _clients[clientId] = count + 1;
            return true;
        }
    }

    public void ReleaseSession(string clientId)
    {
        lock (_lock)
        {
            if (!_clients.TryGetValue(clientId, out var count)) return;
            if (count <= 1) _clients.Remove(clientId);
            else _clients[clientId] = count - 1;
        }
    }

    /// <summary>One new subscription; false beyond <see cref="LimitsOptions.MaxSubscriptions"/> (SUBACK 0x97).</summary>
    public bool TryAddSubscription()
    {
        var max = _budget.Limits.MaxSubscriptions;
        while (true)
        {
            var current = Volatile.Read(ref _subscriptions);
            if (max > 0 && current >= max) return false;
            if (Interlocked.CompareExchange(ref _subscriptions, current + 1, current) == current) return true;
        }
    }

    /// <summary>Counts subscriptions a resumed session already has (never refused) or, negative, releases them.</summary>
    public void AdjustSubscriptions(int delta)
    {
        if (delta != 0) Interlocked.Add(ref _subscriptions, delta);
    }

    /// <summary>Retained messages and payload bytes counted against the identity (see <see cref="QuotaRegistry.TryRetain"/>).</summary>
    public (int Messages, long Bytes) Retained => (Volatile.Read(ref _retainedMessages), Interlocked.Read(ref _retainedBytes));

    /// <summary>Whether <paramref name="messages"/> more retained messages and <paramref name="bytes"/> more bytes fit (under the registry's lock).</summary>
    internal bool CanRetain(int messages, long bytes)
    {
        var limits = _budget.Limits;
        return (limits.MaxRetainedMessages <= 0 || messages <= 0 || _retainedMessages + messages <= limits.MaxRetainedMessages)
            && (limits.MaxRetainedBytes <= 0 || bytes <= 0 || _retainedBytes + bytes <= limits.MaxRetainedBytes);
    }

    internal void AdjustRetained(int messages, long bytes)
    {
        Interlocked.Add(ref _retainedMessages, messages);
        Interlocked.Add(ref _retainedBytes, bytes);
    }

    internal static bool Same(LimitsOptions a, LimitsOptions b) =>
        a.MessagesPerSecond == b.MessagesPerSecond && a.MessagesBurst == b.MessagesBurst && a.BytesPerSecond == b.BytesPerSecond
        && a.BytesBurst == b.BytesBurst && a.MaxSessions == b.MaxSessions && a.MaxSubscriptions == b.MaxSubscriptions
        && a.MaxRetainedMessages == b.MaxRetainedMessages && a.MaxRetainedBytes == b.MaxRetainedBytes;

    private sealed class Budget(LimitsOptions limits, TimeProvider time)
    {
        public LimitsOptions Limits { get; } = limits;
        public TokenBucket? Messages { get; } = limits.MessagesPerSecond > 0
            ? new TokenBucket(limits.MessagesPerSecond, limits.MessagesBurst > 0 ? limits.MessagesBurst : limits.MessagesPerSecond, time) : null;
        public TokenBucket? Bytes { get; } = limits.BytesPerSecond > 0
            ? new TokenBucket(limits.BytesPerSecond, limits.BytesBurst > 0 ? limits.BytesBurst : limits.BytesPerSecond, time) : null;
    }
}
