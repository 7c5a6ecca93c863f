namespace Gatehouse.Broker.Timers;

/// <summary>
/// A hashed timing wheel of connections by the time their deadlines (CONNECT timeout, keep-alive, token expiry) must
/// next be checked: each housekeeping tick visits only the slots of the ticks that passed, instead of every connection.
/// With a million idle connections a full scan every 250 ms would take more than a core (about 290 ns a connection for
/// this and the session sweep, measured with 18,000); here an
/// idle connection costs one look per keep-alive period. The lists are intrusive (an entry is a <see cref="DeadlineEntry"/>):
/// scheduling, moving and removing allocate nothing and take constant time. One lock guards it all; it is taken at
/// accept, at CONNACK, at close and once per keep-alive period of each connection.
/// </summary>
public sealed class DeadlineWheel
{
    private readonly DeadlineEntry?[] _slots;
    private readonly long _tickLength;
    private readonly Lock _lock = new();
    // The absolute tick (timestamp / tick length) whose slot the next sweep visits first.
    private long _nextTick;

    /// <param name="tickLength">Timestamp ticks per slot (the sweep's period).</param>
    /// <param name="slotCount">Slots in the wheel: deadlines further away than this many ticks wait in their slot for
    /// one or more turns (looked at once per turn).</param>
    /// <param name="start">The current timestamp.</param>
    public DeadlineWheel(long tickLength, int slotCount, long start)
    {
        _tickLength = Math.Max(1, tickLength);
        _slots = new DeadlineEntry?[slotCount];
        _nextTick = start / _tickLength;
    }

    public int Count { get; private set; }

    /// <summary>Checks <paramref name="entry"/> once <paramref name="due"/> has passed, instead of when it was due before.</summary>
    public void Schedule(DeadlineEntry entry, long due)
    {
        lock (_lock)
        {
            Unlink(entry);
            var tick = Math.Max(due / _tickLength, _nextTick);
            entry.WheelDue = due;
            entry.WheelSlot = (int)(tick % _slots.Length);
            entry.WheelPrevious = null;
            entry.WheelNext = _slots[entry.WheelSlot];
            if (entry.WheelNext is { } next) next.WheelPrevious = entry;
            _slots[entry.WheelSlot] = entry;
            Count++;
        }
    }

    /// <summary>No more checks for <paramref name="entry"/> (it closed).</summary>
    public void Remove(DeadlineEntry entry)
    {
        lock (_lock) Unlink(entry);
    }

    /// <summary>
    /// Takes out every connection due in a tick that has begun by <paramref name="now"/> into <paramref name="due"/>:
    /// up to one tick early, so the caller checks each against the exact time.
    /// </summary>
    public void TakeDue(long now, List<DeadlineEntry> due)
    {
        lock (_lock)
        {
            var last = now / _tickLength;
            if (last < _nextTick) return;
            // After a long pause (or a test's clock jump) one turn visits every slot.
            var first = Math.Max(_nextTick, last - _slots.Length + 1);
            for (var tick = first; tick <= last; tick++)
            {
                var entry = _slots[tick % _slots.Length];
                while (entry is not null)
                {
                    var next = entry.WheelNext;
                    // Due in a tick that has begun (its caller checks the exact time and schedules it again if early):
                    // one compared with the exact time here would wait a whole turn of the wheel once this tick is past.
                    if (entry.WheelDue / _tickLength <= last)
                    {
                        Unlink(entry);
                        due.Add(entry);
                    }
                    entry = next;
                }
            }
            _nextTick = last + 1;
        }
    }

    private void Unlink(DeadlineEntry entry)
    {
        if (entry.WheelSlot < 0) return;
        if (entry.WheelPrevious is { } previous) previous.WheelNext = entry.WheelNext;
        else _slots[entry.WheelSlot] = entry.WheelNext;
        if (entry.WheelNext is { } next) next.WheelPrevious = entry.WheelPrevious;
        entry.WheelPrevious = entry.WheelNext = null;
        entry.WheelSlot = -1;
        Count--;
    }
}

/// <summary>What <see cref="DeadlineWheel"/> links: its place in the wheel, guarded by the wheel's lock.</summary>
public abstract class DeadlineEntry
{
    internal DeadlineEntry? WheelPrevious;
    internal DeadlineEntry? WheelNext;
    internal long WheelDue;
    internal int WheelSlot = -1;
}
