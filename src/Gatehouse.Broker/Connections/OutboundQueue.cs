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
internal sealed class OutboundQueue : IValueTaskSource<bool>
{
    // Capacity a drained queue keeps; a larger one (left by a burst) is released so idle connections stay small.
    private const int RetainedCapacity = 64;

    private readonly Lock _lock = new();
    private readonly Queue<Outbound> _items = new();
    private ManualResetValueTaskSourceCore<bool> _wait = new() { RunContinuationsAsynchronously = true };
    private bool _waiting;
    private bool _completed;

    /// <summary>Adds a packet; false once <see cref="Complete"/> was called.</summary>
    public bool TryWrite(Outbound item)
    {
        lock (_lock)
        {
            if (_completed) return false;
            _items.Enqueue(item);
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
        lock (_lock)
        {
            if (!_items.TryDequeue(out item)) return false;
            if (_items.Count == 0 && _items.EnsureCapacity(0) > RetainedCapacity) _items.TrimExcess();
            return true;
        }
    }

    /// <summary>True when a packet is ready, false when the queue is completed and empty (consumer only, one wait at a time).</summary>
    public ValueTask<bool> WaitToReadAsync()
    {
        lock (_lock)
        {
            if (_items.Count > 0) return new ValueTask<bool>(true);
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
        lock (_lock)
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
        lock (_lock) _items.Clear();
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _wait.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _wait.GetStatus(token);
    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _wait.OnCompleted(continuation, state, token, flags);
}
