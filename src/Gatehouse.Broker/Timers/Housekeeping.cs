using Gatehouse.Broker.Channel;
using Gatehouse.Broker.Connections;
using Gatehouse.Broker.Retained;
using Gatehouse.Broker.Sessions;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Broker.Timers;

/// <summary>
/// One periodic sweep for everything time-driven: CONNECT deadlines, keep-alive (1.5 ×), token expiry (the connections
/// due, from the <see cref="DeadlineWheel"/>), session expiry and delayed wills (the due sessions without a connection;
/// the session manager's own timer runs them on time, this is the safety net), and (every 5 s) retained-message expiry
/// and expired queued messages. A 250 ms tick keeps every connection deadline within a quarter second.
/// </summary>
public sealed class Housekeeping(BrokerContext context, ConnectionRegistry connections, SessionManager sessions,
    RetainedMessages retained) : IAsyncDisposable
{
    public static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(250);

    private readonly ILogger _log = context.LoggerFactory.CreateLogger("Gatehouse.Housekeeping");
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private DateTimeOffset _lastRetainedSweep = DateTimeOffset.MinValue;
    // The connections a sweep found due (reused: the sweep allocates nothing while nothing is due).
    private readonly List<DeadlineEntry> _due = [];

    public void Start() => _loop = RunAsync();

    /// <summary>One pass; public so tests with a fake clock can drive it.</summary>
    public void SweepOnce()
    {
        var now = context.Now;
        var nowTimestamp = context.Time.GetTimestamp();
        connections.Deadlines.TakeDue(nowTimestamp, _due);
        foreach (var entry in _due)
        {
            var channel = (MqttChannel)entry;
            if (channel.CheckTimeouts(nowTimestamp, now) is { } next) connections.Deadlines.Schedule(channel, next);
        }
        _due.Clear();
        sessions.Sweep(now);
        context.Heap.Check();
        if (now - _lastRetainedSweep >= TimeSpan.FromSeconds(5))
        {
            _lastRetainedSweep = now;
            retained.RemoveExpired(now);
            // Expired messages queued for sessions (offline ones above all) leave memory and the store, so neither grows
            // with messages nobody may receive any more.
            var purged = sessions.PurgeExpiredMessages(now);
            if (purged > 0) _log.LogDebug("Removed {Count} expired queued messages", purged);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null) await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        using var timer = new PeriodicTimer(Tick, context.Time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
            {
                try { SweepOnce(); }
                catch (Exception ex) { _log.LogError(ex, "Housekeeping sweep failed"); }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
