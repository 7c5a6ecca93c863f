using System.Threading.Tasks.Sources;

namespace Gatehouse.Bench;

/// <summary>
/// A reusable auto-reset signal for one waiter at a time, without allocation: <see cref="Set"/> wakes the waiter
/// or, when nobody waits, makes the next <see cref="WaitAsync"/> complete at once. Continuations run on the thread
/// pool, never inline in the setter (which is a receive loop in the middle of parsing).
/// </summary>
internal sealed class AsyncSignal : IValueTaskSource
{
    private const int Idle = 0;
    private const int Signalled = 1;
    private const int Waiting = 2;

    private readonly Lock _lock = new();
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private int _state;

    public ValueTask WaitAsync()
    {
        lock (_lock)
        {
            if (_state == Signalled)
            {
                _state = Idle;
                return default;
            }
            _core.Reset();
            _state = Waiting;
            return new ValueTask(this, _core.Version);
        }
    }

    public void Set()
    {
        lock (_lock)
        {
            if (_state != Waiting)
            {
                _state = Signalled;
                return;
            }
            _state = Idle;
        }
        _core.SetResult(true);
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
