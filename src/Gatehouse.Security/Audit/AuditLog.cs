using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Security.Audit;

public enum AuditKind
{
    AuthenticationFailed,
    ClientIdRefused,
    SessionOwnershipRefused,
    PublishDenied,
    SubscribeDenied,
    Revoked,
    /// <summary>PUBLISHes over the identity's message or byte rate (at most one row per identity per second).</summary>
    RateLimited,
    /// <summary>A session or subscription beyond the identity's quota.</summary>
    QuotaExceeded,
    /// <summary>A ban started after repeated authentication failures (address or user name).</summary>
    Banned,
    /// <summary>A CONNECT refused because its address or user name is banned.</summary>
    BanRefused,
    /// <summary>CONNECTs over the listener's or the address's rate (at most one row per second).</summary>
    ConnectionRateExceeded,
}

/// <summary>One security-relevant event. <see cref="ReasonCode"/> is the MQTT reason code sent (or 0).</summary>
public sealed record AuditEvent(
    DateTimeOffset At,
    AuditKind Kind,
    string? Identity,
    string? ClientId,
    string? RemoteAddress,
    string? Listener,
    byte ReasonCode,
    string? Detail);

/// <summary>Where authentication failures, denials and revocations are recorded. Never blocks the caller.</summary>
public interface IAuditLog
{
    void Write(AuditEvent auditEvent);
}

/// <summary>Persistence behind <see cref="AuditLog"/>.</summary>
public interface IAuditStore
{
    void AppendAudit(IReadOnlyList<AuditEvent> events, int retentionRows);
    IReadOnlyList<AuditEvent> ReadAudit(int limit);
}

/// <summary>Keeps the last events in memory (tests, and servers without a data directory).</summary>
public sealed class MemoryAuditLog(int capacity = 10_000) : IAuditLog, IAuditStore
{
    private readonly Queue<AuditEvent> _events = new();
    private readonly Lock _lock = new();

    public void Write(AuditEvent auditEvent) => AppendAudit([auditEvent], capacity);

    public void AppendAudit(IReadOnlyList<AuditEvent> events, int retentionRows)
    {
        lock (_lock)
        {
            foreach (var e in events) _events.Enqueue(e);
            while (_events.Count > Math.Min(capacity, retentionRows)) _events.Dequeue();
        }
    }

    public IReadOnlyList<AuditEvent> ReadAudit(int limit)
    {
        lock (_lock) return [.. _events.TakeLast(limit)];
    }
}

/// <summary>
/// Writes audit events to an <see cref="IAuditStore"/> from a background task in batches, so a client hammering a
/// denied topic costs the broker a queue write, not a transaction. Beyond <c>MaxPending</c> queued events new ones
/// are dropped and counted (and logged, rate-limited).
/// </summary>
public sealed class AuditLog : IAuditLog, IAsyncDisposable
{
    private const int MaxPending = 10_000;
    private readonly IAuditStore _store;
    private readonly int _retentionRows;
    private readonly ILogger _log;
    private readonly Channel<AuditEvent> _queue = Channel.CreateBounded<AuditEvent>(
        new BoundedChannelOptions(MaxPending) { SingleReader = true, FullMode = BoundedChannelFullMode.DropWrite });
    private readonly Task _writer;
    private long _dropped;

    public AuditLog(IAuditStore store, int retentionRows, ILogger log)
    {
        _store = store;
        _retentionRows = retentionRows;
        _log = log;
        _writer = Task.Run(WriteLoopAsync);
    }

    public long Dropped => Interlocked.Read(ref _dropped);

    public void Write(AuditEvent auditEvent)
    {
        _log.LogInformation("audit: {Kind} identity={Identity} client={ClientId} remote={Remote} listener={Listener} reason=0x{Reason:X2} {Detail}",
            auditEvent.Kind, auditEvent.Identity ?? "-", auditEvent.ClientId ?? "-", auditEvent.RemoteAddress ?? "-",
            auditEvent.Listener ?? "-", auditEvent.ReasonCode, auditEvent.Detail);
        if (!_queue.Writer.TryWrite(auditEvent) || _queue.Reader.Count >= MaxPending) Interlocked.Increment(ref _dropped);
    }

    /// <summary>Completes once everything written so far is stored (tests, shutdown).</summary>
    public async Task FlushAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (_queue.Reader.Count > 0 && DateTime.UtcNow < deadline) await Task.Delay(10).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _writer.ConfigureAwait(false);
    }

    private async Task WriteLoopAsync()
    {
        var batch = new List<AuditEvent>();
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < 1000 && _queue.Reader.TryRead(out var e)) batch.Add(e);
            try
            {
                _store.AppendAudit(batch, _retentionRows);
            }
            catch (Exception ex)
            {
                _log.LogError(ex, "Cannot write {Count} audit events", batch.Count);
            }
        }
    }
}
