using Gatehouse.Protocol.Packets;

namespace Gatehouse.Broker.Connections;

/// <summary>
/// A queued packet and, if it must wait for one, the store submission it waits for. <see cref="OnFailure"/> gets the
/// connection's channel and the packet, so callers pass a static method and nothing is allocated per packet.
/// </summary>
internal readonly record struct Outbound(MqttPacket Packet, Task? Durable, Func<Channel.MqttChannel, MqttPacket, MqttPacket?>? OnFailure);

/// <summary>How <see cref="OutboundQueue.TryWrite"/> went.</summary>
internal enum QueueWrite
{
    /// <summary>Queued; a writer is already running and will take it.</summary>
    Queued,
    /// <summary>Queued into an idle queue: the caller must start the writer (exactly one caller is told so).</summary>
    StartWriter,
    /// <summary>Refused: the queue is completed.</summary>
    Refused,
}

/// <summary>
/// The packets waiting for one connection's writer: many producers, one writer at a time. There is no writer while
/// the queue is empty: the producer that puts a packet into an idle queue is told to start one, and the writer retires
/// once it finds the queue empty (<see cref="TryRetire"/>). An idle connection therefore holds no parked writer — no
/// async state machine, no wait object — only this empty queue.
/// </summary>
/// <remarks>
/// A packet queued alone waits in a field; only when two are queued at once is a <c>Queue&lt;T&gt;</c> created, so a
/// connection that only ever has one at a time (CONNACK, PINGRESP, an acknowledgement) never allocates one. It is
/// guarded by this object's monitor rather than a <c>Lock</c>: an uncontended monitor lives in the object header, so it
/// costs an idle connection nothing (nothing else locks on it: neither a queue nor the connection that is one is ever
/// locked for anything else).
/// Invariant: while packets are queued, a writer is running or about to start.
/// <para>
/// <see cref="ClientConnection"/> derives from it rather than holding one: the queue is part of every connection, and as
/// an object of its own it cost each idle connection a header and a reference (24 bytes). Its members stay internal.
/// </para>
/// </remarks>
public class OutboundQueue
{
    internal OutboundQueue()
    {
    }

    // Capacity a drained queue keeps; a larger one (left by a burst) is released so idle connections stay small.
    private const int RetainedCapacity = 64;

    // While no queue exists, the one packet waiting (if _hasSingle) is _single; a second packet moves both into _queue.
    private Queue<Outbound>? _queue;
    private Outbound _single;
    private bool _hasSingle;
    private bool _writerActive;
    private bool _completed;
    // Created only when the connection ends while its writer runs: what RunAsync waits for before closing the output.
    private TaskCompletionSource? _writerStopped;

    /// <summary>Adds a packet, unless <see cref="Complete"/> was called; says whether the caller must start the writer.</summary>
    internal QueueWrite TryWrite(Outbound item)
    {
        lock (this)
        {
            if (_completed) return QueueWrite.Refused;
            Add(item);
            if (_writerActive) return QueueWrite.Queued;
            _writerActive = true;
            return QueueWrite.StartWriter;
        }
    }

    /// <summary>Takes the next packet, if any (the writer only).</summary>
    internal bool TryRead(out Outbound item)
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

    /// <summary>
    /// The writer, having flushed what it took, asks to stop: true (it is retired) when nothing more is queued, false
    /// when it must go on. After true, the next packet queued starts a new writer.
    /// </summary>
    internal bool TryRetire()
    {
        TaskCompletionSource? stopped;
        lock (this)
        {
            if (_hasSingle || _queue is { Count: > 0 }) return false;
            _writerActive = false;
            stopped = _writerStopped;
        }
        stopped?.TrySetResult();
        return true;
    }

    /// <summary>The writer stops early (the peer is gone, or a packet's store state failed): what is queued is dropped.</summary>
    internal void StopWriter()
    {
        TaskCompletionSource? stopped;
        lock (this)
        {
            _queue = null;
            _single = default;
            _hasSingle = false;
            _writerActive = false;
            stopped = _writerStopped;
        }
        stopped?.TrySetResult();
    }

    /// <summary>No packet is accepted from now on; a running writer still sends what is queued. False if already completed.</summary>
    internal bool Complete()
    {
        lock (this)
        {
            if (_completed) return false;
            _completed = true;
            return true;
        }
    }

    /// <summary>Completes once no writer runs (after <see cref="Complete"/>, none can start again).</summary>
    internal Task WhenWriterStopped()
    {
        lock (this)
        {
            if (!_writerActive) return Task.CompletedTask;
            _writerStopped ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _writerStopped.Task;
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
}
