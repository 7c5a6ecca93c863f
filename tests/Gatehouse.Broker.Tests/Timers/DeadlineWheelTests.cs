using Gatehouse.Broker.Timers;

namespace Gatehouse.Broker.Tests.Timers;

public sealed class DeadlineWheelTests
{
    private sealed class Entry(string name) : DeadlineEntry
    {
        public override string ToString() => name;
    }

    private const long Tick = 250;

    private static List<DeadlineEntry> TakeDue(DeadlineWheel wheel, long now)
    {
        var due = new List<DeadlineEntry>();
        wheel.TakeDue(now, due);
        return due;
    }

    [Fact]
    public void An_entry_comes_out_in_the_tick_it_is_due_and_not_before()
    {
        var wheel = new DeadlineWheel(Tick, 16, start: 0);
        var entry = new Entry("a");
        wheel.Schedule(entry, due: 1_100);
        Assert.Empty(TakeDue(wheel, 999));
        // The tick of 1,000-1,249 has begun: out, up to a tick early (the caller checks the exact time).
        Assert.Equal([entry], TakeDue(wheel, 1_000));
        Assert.Equal(0, wheel.Count);
    }

    [Fact]
    public void One_due_later_in_the_tick_already_swept_comes_out_at_the_next_tick_not_a_turn_later()
    {
        var wheel = new DeadlineWheel(Tick, 16, start: 0);
        Assert.Empty(TakeDue(wheel, 1_010));
        var entry = new Entry("late in the swept tick");
        wheel.Schedule(entry, due: 1_200);
        Assert.Equal([entry], TakeDue(wheel, 1_260));
    }

    [Fact]
    public void A_deadline_beyond_one_turn_waits_its_turns()
    {
        var wheel = new DeadlineWheel(Tick, 4, start: 0);
        var entry = new Entry("far");
        wheel.Schedule(entry, due: 10 * Tick);
        for (var now = Tick; now < 10 * Tick; now += Tick) Assert.Empty(TakeDue(wheel, now));
        Assert.Equal([entry], TakeDue(wheel, 10 * Tick));
    }

    [Fact]
    public void Rescheduling_moves_an_entry_and_removing_drops_it()
    {
        var wheel = new DeadlineWheel(Tick, 16, start: 0);
        var moved = new Entry("moved");
        var removed = new Entry("removed");
        var kept = new Entry("kept");
        wheel.Schedule(moved, 500);
        wheel.Schedule(removed, 500);
        wheel.Schedule(kept, 500);
        wheel.Schedule(moved, 2_000);
        wheel.Remove(removed);
        wheel.Remove(removed); // twice: no harm
        Assert.Equal(2, wheel.Count);
        Assert.Equal([kept], TakeDue(wheel, 600));
        Assert.Equal([moved], TakeDue(wheel, 2_000));
        Assert.Equal(0, wheel.Count);
    }

    [Fact]
    public void A_jump_past_a_whole_turn_takes_out_everything_due()
    {
        var wheel = new DeadlineWheel(Tick, 8, start: 0);
        var entries = Enumerable.Range(1, 40).Select(i => new Entry($"e{i}")).ToList();
        for (var i = 0; i < entries.Count; i++) wheel.Schedule(entries[i], (i + 1) * 100L);
        var due = TakeDue(wheel, 1_000_000);
        Assert.Equal(entries.Count, due.Count);
        Assert.Equal(entries.ToHashSet(), due.Cast<Entry>().ToHashSet());
    }
}
