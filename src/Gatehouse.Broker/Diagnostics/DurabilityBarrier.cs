namespace Gatehouse.Broker.Diagnostics;

/// <summary>
/// What the acknowledgement of one operation waits for: the store's completion tasks (durability) and, for a PUBLISH,
/// room in slow subscribers' queues (backpressure, bounded in time). Completed tasks (the memory store, clean sessions)
/// cost nothing: the barrier stays empty and the acknowledgement goes at once. It also counts the sessions that refused
/// the message because a queue limit was hit, so the publisher can be told (0x97).
/// </summary>
public struct DurabilityBarrier
{
    // Usually one task (a message queued for one persistent session): held alone, without a list or Task.WhenAll.
    private Task? _single;
    private List<Task>? _pending;
    private Task? _backpressure;

    public void Add(ValueTask submission)
    {
        if (submission.IsCompletedSuccessfully) return;
        Add(submission.AsTask());
    }

    /// <summary>
    /// Waits for a slow subscriber's queue to have room again: <paramref name="room"/> is a signal that never faults and
    /// completes by itself once the subscriber has taken nothing for <c>BackpressureTimeoutMs</c>.
    /// </summary>
    public void AddBackpressure(Task room)
    {
        if (room.IsCompleted) return;
        _backpressure = _backpressure is null ? room : Task.WhenAll(_backpressure, room);
    }

    /// <summary>Room in slow subscribers' queues alone, without the store: what a QoS 0 publisher's next read waits for (null: nothing).</summary>
    public readonly Task? Backpressure => _backpressure;

    private void Add(Task task)
    {
        if (_single is null && _pending is null)
        {
            _single = task;
            return;
        }
        _pending ??= [_single!];
        _single = null;
        _pending.Add(task);
    }

    /// <summary>Sessions that refused the message because a queue limit was hit.</summary>
    public int Refused { get; private set; }

    public void AddRefused() => Refused++;

    public readonly bool IsEmpty => _single is null && _pending is null && _backpressure is null;

    /// <summary>The store's completions and the room in slow subscribers' queues.</summary>
    public readonly Task WhenDurable() =>
        _backpressure is null ? WhenStored() : _single is null && _pending is null ? _backpressure : Task.WhenAll(WhenStored(), _backpressure);

    /// <summary>The store's completions alone.</summary>
    public readonly Task WhenStored() => _single ?? (_pending is null ? Task.CompletedTask : Task.WhenAll(_pending));
}
