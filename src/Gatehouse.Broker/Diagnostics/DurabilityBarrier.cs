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

    public void Add(ValueTask submission)
    {
        if (submission.IsCompletedSuccessfully) return;
        Add(submission.AsTask());
    }

    /// <summary>Waits for a slow subscriber's queue to have room again, but never longer than <paramref name="timeout"/>.</summary>
    public void AddBackpressure(Task room, TimeSpan timeout)
    {
        if (room.IsCompleted || timeout <= TimeSpan.Zero) return;
        // WhenAny never faults: a timeout just lets the acknowledgement go.
        Add(Task.WhenAny(room, Task.Delay(timeout)));
    }

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

    public readonly bool IsEmpty => _single is null && _pending is null;

    public readonly Task WhenDurable() => _single ?? (_pending is null ? Task.CompletedTask : Task.WhenAll(_pending));
}
