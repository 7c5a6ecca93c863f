using System.Threading.Tasks.Sources;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Broker.Connections;

/// <summary>A queued packet and, if it must wait for one, the store submission it waits for.</summary>
internal readonly record struct Outbound(MqttPacket Packet, Task? Durable, Func<MqttPacket?>? OnFailure);

/// <summary>
/// The packets waiting for one connection's writer: many producers, one consumer. It replaces an unbounded
/// <c>Channel&lt;T&gt;</c>, whose first segment alone costs an idle connection over a kilobyte: here an idle connection
/// holds an empty queue and one reusable wait, and waiting allocates nothing.
/// </summary>
/// <remarks>
/// A packet queued alone waits in a field; only when two are queued at once is a <c>Queue&lt;T&gt;</c> created, so a
/// connection that only ever has one at a time (CONNACK, PINGRESP, an acknowledgement) never allocates one. It is guarded by this object's monitor rather than a <c>Lock</c>: an uncontended monitor lives in
/// the object header, so it costs an idle connection nothing (the class is internal; nothing else locks on it).
/// </remarks>
internal sealed class OutboundQueue : IValueTaskSource<bool>
{
    // Capacity a drained queue keeps; a larger one (left by a burst) is released so idle connections stay small.
    private const int RetainedCapacity = 64;

    // While no queue exists, the one packet waiting (if _hasSingle) is _single; a second packet moves both into _queue.
    private Queue<Outbound>? _queue;
    private Outbound _single;
    private bool _hasSingle;
    private ManualResetValueTaskSourceCore<bool> _wait = new() { RunContinuationsAsynchronously = true };
    private bool _waiting;
    private bool _completed;

    /// <summary>Adds a packet; false once <see cref="Complete"/> was called.</summary>
    public bool TryWrite(Outbound item)
    {
        lock (this)
        {
            if (_completed) return false;
            Add(item);
            if (!_waiting) return true;
            _waiting = false;
            // Inside a read loop's batch the wake waits for the batch's end and then runs on that thread.
            if (DeferredWrites.TryDefer(this)) return true;
        }
        _wait.SetResult(true);
        return true;
    }

    /// <summary>Wakes the consumer on this thread (a deferred wake, see <see cref="DeferredWrites"/>).</summary>
    internal void WakeInline()
    {
        _wait.RunContinuationsAsynchronously = false;
        _wait.SetResult(true);
    }

    /// <summary>Takes the next packet, if any (consumer only).</summary>
    public bool TryRead(out Outbound item)
    {
        lock (this)
        {
            if (_queue is { } queue)
            {
                if (!queue.TryDequeue(out item)) return false;
                if (queue.Count == 0 && queue.EnsureCapacity(0) > RetainedCapacity) _queue = null;
                return true;
            }
            item = _single;
            _single = default;
            var had = _hasSingle;
            _hasSingle = false;
            return had;
        }
    }

    /// <summary>True when a packet is ready, false when the queue is completed and empty (consumer only, one wait at a time).</summary>
    public ValueTask<bool> WaitToReadAsync()
    {
        lock (this)
        {
            if (_hasSingle || _queue is { Count: > 0 }) return new ValueTask<bool>(true);
            if (_completed) return new ValueTask<bool>(false);
            _wait.Reset();
            _wait.RunContinuationsAsynchronously = true;
            _waiting = true;
            return new ValueTask<bool>(this, _wait.Version);
        }
    }

    /// <summary>No packet is accepted from now on; the consumer still reads what is queued. False if already completed.</summary>
    public bool Complete()
    {
        lock (this)
        {
            if (_completed) return false;
            _completed = true;
            if (!_waiting) return true;
            _waiting = false;
        }
        // The consumer was waiting, so the queue is empty: nothing more will come.
        _wait.SetResult(false);
        return true;
    }

    /// <summary>Drops whatever is still queued (the writer has stopped).</summary>
    public void Clear()
    {
        lock (this)
        {
            _queue = null;
            _single = default;
            _hasSingle = false;
        }
    }

    private void Add(Outbound item)
    {
        if (_queue is null)
        {
            if (!_hasSingle)
            {
                _single = item;
                _hasSingle = true;
                return;
            }
            _queue = new Queue<Outbound>(4);
            _queue.Enqueue(_single);
            _single = default;
            _hasSingle = false;
        }
        _queue.Enqueue(item);
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _wait.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _wait.GetStatus(token);
    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _wait.OnCompleted(continuation, state, token, flags);
}
