using Gatehouse.Broker.Timers;
using Gatehouse.Broker.Tests.InProcess;

namespace Gatehouse.Broker.Tests.Timers;

public sealed class TimerPrecisionTests
{
    [Fact]
    public void Waits_until_the_deadline_it_was_armed_early_for()
    {
        for (var i = 0; i < 20; i++)
        {
            var due = TimeProvider.System.GetUtcNow() + TimeSpan.FromMilliseconds(i % 5 + 0.5);
            TimerPrecision.WaitUntil(TimeProvider.System, due);
            var now = TimeProvider.System.GetUtcNow();
            Assert.True(now >= due, $"returned {(due - now).TotalMilliseconds:0.000} ms before the deadline");
        }
    }

    [Fact]
    public void Does_not_wait_for_a_deadline_further_away_than_an_early_timer_can_be()
    {
        // The wall clock was set back: the caller finds nothing due and arms the timer again.
        var due = TimeProvider.System.GetUtcNow() + TimeSpan.FromSeconds(30);
        var started = TimeProvider.System.GetTimestamp();
        TimerPrecision.WaitUntil(TimeProvider.System, due);
        Assert.True(TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Only_the_system_clock_needs_it()
    {
        Assert.True(TimerPrecision.Applies(TimeProvider.System));
        Assert.False(TimerPrecision.Applies(new ManualClock()));
    }
}
