using Gatehouse.Broker.Diagnostics;

namespace Gatehouse.Broker.Connections;

/// <summary>
/// What publishers wait on while a client is falling behind: completed by the client's owner (its connection's writer,
/// or its session) once it is back under the low-water mark. Every <c>BackpressureTimeoutMs</c> its timer looks at
/// whether the client took anything meanwhile: if it did, the wait goes on (a slow client paces its publishers); if it
/// took nothing, the signal completes and stays <see cref="Expired"/> until the client drains: it is treated as stalled,
/// publishers stop waiting for it, and the hard limits apply instead. So a client that stops reading delays its
/// publishers for one timeout, not for good, and two clients that wait on each other cannot deadlock.
/// </summary>
internal sealed class RoomSignal : TaskCompletionSource
{
    private readonly Timer _timer;
    private readonly BrokerContext _context;
    private readonly string? _clientId;
    private long _progress;
    private long _progressSeen;
    private volatile bool _expired;

    /// <summary>A signal for <paramref name="clientId"/>, reported if the client stalls; its owner counts the episode once it installs it.</summary>
    public RoomSignal(BrokerContext context, string? clientId) : base(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        _context = context;
        _clientId = clientId;
        // Created unstarted and armed once the field is set, so the callback never sees a half-built signal.
        _timer = new Timer(static state => ((RoomSignal)state!).OnTimeout(), this, Timeout.Infinite, Timeout.Infinite);
        _timer.Change(context.Options.BackpressureTimeoutMs, Timeout.Infinite);
    }

    /// <summary>True once the client took nothing for a whole timeout: nobody waits on it again until it drains.</summary>
    public bool Expired => _expired;

    /// <summary>The client took something (a flush went out, a message left its queue): it is slow, not stalled.</summary>
    public void NoteProgress() => Volatile.Write(ref _progress, _progress + 1);

    /// <summary>The client is back under the low-water mark (or gone): waiting publishers go on.</summary>
    public void Release()
    {
        _timer.Dispose();
        TrySetResult();
    }

    private void OnTimeout()
    {
        var progress = Volatile.Read(ref _progress);
        if (progress != _progressSeen && !Task.IsCompleted)
        {
            _progressSeen = progress;
            try
            {
                _timer.Change(_context.Options.BackpressureTimeoutMs, Timeout.Infinite);
                return;
            }
            catch (ObjectDisposedException)
            {
                // Released meanwhile: nothing is waiting any more.
                return;
            }
        }
        if (Task.IsCompleted) return;
        _expired = true;
        BrokerMetrics.Add(ref _context.Metrics.BackpressureStalls);
        _context.Limits.Hit("BackpressureTimeoutMs (stalled client)",
            $"client {_clientId} took nothing for {_context.Options.BackpressureTimeoutMs} ms while it was behind; its publishers no longer wait for it");
        TrySetResult();
    }
}
