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
/// The queue is a ring buffer held here, not a <c>Queue&lt;T&gt;</c>, and it has no array until two packets are
/// queued at once: a connection that only ever has one at a time (CONNACK, PINGRESP, an acknowledgement) never
/// allocates one. It is guarded by this object's monitor rather than a <c>Lock</c>: an uncontended monitor lives in
/// the object header, so it costs an idle connection nothing (the class is internal; nothing else locks on it).
/// </remarks>
internal sealed class OutboundQueue : IValueTaskSource<bool>
{
    // Capacity a drained queue keeps; a larger one (left by a burst) is released so idle connections stay small.
    private const int RetainedCapacity = 64;

    // The packets from _head on, wrapping; while _items is empty, the only one (if _count is 1) is _single.
    private Outbound[] _items = [];
    private Outbound _single;
    private int _head;
    private int _count;
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
            if (_count == 0)
            {
                item = default;
                return false;
            }
            _count--;
            if (_items.Length == 0)
            {
                item = _single;
                _single = default;
                return true;
            }
            item = _items[_head];
            _items[_head] = default;
            _head = _head + 1 == _items.Length ? 0 : _head + 1;
            if (_count == 0)
            {
                _head = 0;
                if (_items.Length > RetainedCapacity) _items = [];
            }
            return true;
        }
    }

    /// <summary>True when a packet is ready, false when the queue is completed and empty (consumer only, one wait at a time).</summary>
    public ValueTask<bool> WaitToReadAsync()
    {
        lock (this)
        {
            if (_count > 0) return new ValueTask<bool>(true);
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
            _items = [];
            _single = default;
            _head = 0;
            _count = 0;
        }
    }

    private void Add(Outbound item)
    {
        if (_items.Length == 0)
        {
            if (_count == 0)
            {
                _single = item;
                _count = 1;
                return;
            }
            // A second packet: from now on the queue is an array (kept while it is small, see RetainedCapacity).
            _items = new Outbound[4];
            _items[0] = _single;
            _single = default;
            _head = 0;
        }
        else if (_count == _items.Length)
        {
            var larger = new Outbound[_items.Length * 2];
            var tail = _items.Length - _head;
            Array.Copy(_items, _head, larger, 0, tail);
            Array.Copy(_items, 0, larger, tail, _head);
            _items = larger;
            _head = 0;
        }
        var index = _head + _count;
        _items[index < _items.Length ? index : index - _items.Length] = item;
        _count++;
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _wait.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _wait.GetStatus(token);
    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _wait.OnCompleted(continuation, state, token, flags);
}
