namespace Gatehouse.Broker.Timers;

/// <summary>
/// Puts deadline timers on time. The runtime's timers compare their due time with a coarse clock (on Linux
/// CLOCK_MONOTONIC_COARSE: one scheduler tick, 4 ms on this machine's kernel), so a timer fires up to a tick late, and at
/// times early. A timer armed <see cref="Lead"/> early that then waits (<see cref="WaitUntil"/>) fires within a fraction of
/// a millisecond of its deadline. Only the system's timers need it; a test's fake clock fires its timers exactly.
/// </summary>
internal static class TimerPrecision
{
    /// <summary>How much earlier than its deadline a timer is armed: one coarse tick and a millisecond.</summary>
    public static readonly TimeSpan Lead = TimeSpan.FromMilliseconds(5);

    private static readonly TimeSpan OneMillisecond = TimeSpan.FromMilliseconds(1);

    /// <summary>Whether timers of <paramref name="time"/> run on the coarse clock (those of <see cref="TimeProvider.System"/>).</summary>
    public static bool Applies(TimeProvider time) => ReferenceEquals(time, TimeProvider.System);

    /// <summary>
    /// Blocks the calling (timer) thread until <paramref name="due"/>: sleeps whole milliseconds (a precise sleep, unlike
    /// the timer), then yields for the rest. Returns at once when the deadline is further away than a timer armed
    /// <see cref="Lead"/> early can be from it (the wall clock was set back): the caller then finds nothing due yet and arms again.
    /// </summary>
    public static void WaitUntil(TimeProvider time, DateTimeOffset due)
    {
        while (true)
        {
            var remaining = due - time.GetUtcNow();
            if (remaining <= TimeSpan.Zero || remaining > Lead + Lead) return;
            if (remaining >= OneMillisecond) Thread.Sleep((int)remaining.TotalMilliseconds);
            else Thread.Yield();
        }
    }
}
