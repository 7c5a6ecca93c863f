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

    /// <summary>Checks <paramref name="channel"/> once <paramref name="due"/> has passed, instead of when it was due before.</summary>
    public void Schedule(DeadlineEntry channel, long due)
    {
        lock (_lock)
        {
            Unlink(channel);
            var tick = Math.Max(due / _tickLength, _nextTick);
            channel.WheelDue = due;
            channel.WheelSlot = (int)(tick % _slots.Length);
            channel.WheelPrevious = null;
            channel.WheelNext = _slots[channel.WheelSlot];
            if (channel.WheelNext is { } next) next.WheelPrevious = channel;
            _slots[channel.WheelSlot] = channel;
            Count++;
        }
    }

    /// <summary>No more checks for <paramref name="channel"/> (it closed).</summary>
    public void Remove(DeadlineEntry channel)
    {
        lock (_lock) Unlink(channel);
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
                var channel = _slots[tick % _slots.Length];
                while (channel is not null)
                {
                    var next = channel.WheelNext;
                    // Due in a tick that has begun (its caller checks the exact time and schedules it again if early):
                    // one compared with the exact time here would wait a whole turn of the wheel once this tick is past.
                    if (channel.WheelDue / _tickLength <= last)
                    {
                        Unlink(channel);
                        due.Add(channel);
                    }
                    channel = next;
                }
            }
            _nextTick = last + 1;
        }
    }

    private void Unlink(DeadlineEntry channel)
    {
        if (channel.WheelSlot < 0) return;
        if (channel.WheelPrevious is { } previous) previous.WheelNext = channel.WheelNext;
        else _slots[channel.WheelSlot] = channel.WheelNext;
        if (channel.WheelNext is { } next) next.WheelPrevious = channel.WheelPrevious;
        channel.WheelPrevious = channel.WheelNext = null;
        channel.WheelSlot = -1;
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
