namespace Gatehouse.Broker.Connections;

/// <summary>
/// What publishers wait on while a connection has more PUBLISH payload waiting to be written than its high-water mark
/// allows: completed by the connection's writer once it is back under the low-water mark, or by its own timer once the
/// wait has lasted <c>BackpressureTimeoutMs</c>. A signal that timed out stays <see cref="Expired"/> until the queue
/// drains: the client is then treated as stalled, and publishers stop waiting for it (its QoS 0 messages are dropped at
/// the hard limit instead), so one client that stops reading slows its publishers for one timeout, not for good.
/// </summary>
internal sealed class RoomSignal : TaskCompletionSource
{
    private readonly Timer _timer;
    private volatile bool _expired;

    public RoomSignal(int timeoutMs) : base(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        // The timer is created unstarted and armed after the field is set, so its callback never sees a half-built signal.
        _timer = new Timer(static state => ((RoomSignal)state!).Expire(), this, Timeout.Infinite, Timeout.Infinite);
        _timer.Change(timeoutMs, Timeout.Infinite);
    }

    /// <summary>True once the wait timed out: publishers no longer wait on this connection until it drains.</summary>
    public bool Expired => _expired;

    /// <summary>The queue is back under the low-water mark (or the connection is gone): waiting publishers go on.</summary>
    public void Release()
    {
        _timer.Dispose();
        TrySetResult();
    }

    private void Expire()
    {
        _expired = true;
        TrySetResult();
    }
}
