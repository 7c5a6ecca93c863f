using System.Buffers;
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
/// A packet queued alone that waits for nothing else waits in a field; only when two are queued at once (or one waits
/// for the store) is a ring buffer rented from the array pool (and returned when the writer retires), so a connection
/// that only ever has one at a time (CONNACK, PINGRESP, an acknowledgement of a clean session) never touches one, and a
/// burst costs no garbage. It is
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

    // The rings of bursts. A fan-out gives a packet to hundreds of connections at once and each whose writer is behind
    // takes a ring, then larger ones as its backlog grows: far more than the shared array pool keeps (32 arrays per size
    // and core), so rings of up to PooledRingLength come from a pool of their own that keeps 512 of each size (at most
    // 512 x 12 KB, and only once that many were in use at once). A ring grown past it goes to and from the shared pool.
    private const int FirstRingLength = 16;
    private const int PooledRingLength = 256;
    private static readonly ArrayPool<Outbound> s_rings = ArrayPool<Outbound>.Create(PooledRingLength, maxArraysPerBucket: 512);

    // Packets waiting, in order. While there is no buffer, at most one waits, in _single, when it waits for nothing (no
    // store submission, no failure handler: a PINGRESP, an acknowledgement or a QoS 0 PUBLISH); a second one, or one
    // that does wait, goes into a ring buffer rented from the pool (holding only the packet saves every connection 16
    // bytes). The ring buffer goes back to the pool when the writer retires with the queue empty: a subscriber
    // whose queue fills and drains in rounds (a backlog's drain, a fan-in) reuses the same arrays instead of growing a
    // new one each round, and an idle connection holds none.
    private Outbound[]? _buffer;
    private MqttPacket? _single;
    private int _head;
    private int _count;
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
            if (_count == 0)
            {
                item = default;
                return false;
            }
            _count--;
            if (_buffer is not { } buffer)
            {
                item = new Outbound(_single!, null, null);
                _single = null;
                return true;
            }
            item = buffer[_head];
            buffer[_head] = default;
            _head = _head + 1 == buffer.Length ? 0 : _head + 1;
            return true;
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
            if (_count > 0) return false;
            // Empty and idle: the ring buffer (if a burst rented one) goes back now, not at every moment the writer
            // empties it while still running.
            if (_buffer is not null) ReleaseBuffer();
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
            if (_buffer is { } buffer)
            {
                Array.Clear(buffer);
                ReleaseBuffer();
            }
            _single = null;
            _count = 0;
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
        if (_buffer is not { } buffer)
        {
            if (_count == 0 && item.Durable is null && item.OnFailure is null)
            {
                _single = item.Packet;
                _count = 1;
                return;
            }
            buffer = _buffer = s_rings.Rent(FirstRingLength);
            _head = 0;
            if (_count == 1)
            {
                buffer[0] = new Outbound(_single!, null, null);
                _single = null;
            }
        }
        else if (_count == buffer.Length)
        {
            // Full: a larger array with the packets in order from its start; the old one goes back to the pool, cleared.
            var larger = buffer.Length * 2 <= PooledRingLength ? s_rings.Rent(buffer.Length * 2) : ArrayPool<Outbound>.Shared.Rent(buffer.Length * 2);
            var tail = buffer.Length - _head;
            Array.Copy(buffer, _head, larger, 0, tail);
            Array.Copy(buffer, 0, larger, tail, _head);
            Array.Clear(buffer);
            ReturnRing(buffer);
            buffer = _buffer = larger;
            _head = 0;
        }
        var tailIndex = _head + _count;
        if (tailIndex >= buffer.Length) tailIndex -= buffer.Length;
        buffer[tailIndex] = item;
        _count++;
    }

    /// <summary>Gives the (emptied, cleared) ring buffer back to the pool.</summary>
    private void ReleaseBuffer()
    {
        ReturnRing(_buffer!);
        _buffer = null;
        _head = 0;
    }

    private static void ReturnRing(Outbound[] ring)
    {
        if (ring.Length <= PooledRingLength) s_rings.Return(ring);
        else ArrayPool<Outbound>.Shared.Return(ring);
    }
}
