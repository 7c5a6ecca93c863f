namespace Gatehouse.Broker.Diagnostics;

/// <summary>
/// Collects the store's completion tasks of one operation so the acknowledgement can wait for all of them.
/// Completed tasks (the memory store, clean sessions) cost nothing: the barrier stays empty and is awaited synchronously.
/// </summary>
public struct DurabilityBarrier
{
    private List<Task>? _pending;

    public void Add(ValueTask submission)
    {
        if (submission.IsCompletedSuccessfully) return;
        (_pending ??= []).Add(submission.AsTask());
    }

    public readonly bool IsEmpty => _pending is null;

    public readonly Task WhenDurable() => _pending is null ? Task.CompletedTask : Task.WhenAll(_pending);
}
