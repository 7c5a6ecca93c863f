namespace Gatehouse.Hosting;

/// <summary>
/// Stops idle thread-pool workers from spinning when the process may use only one core (the broker pinned with
/// <c>taskset -c 0</c>, a container limited to one CPU). A worker that finishes an item waits for the next by calling
/// <c>sched_yield</c> up to 70 times before it sleeps; with one core, every yield hands the core to another runnable
/// thread (the I/O loop, the store's writer) and back, a context switch each, for work that can only arrive once those
/// threads have run. The workers wake for timers even while every connection is served by the I/O threads: with 10
/// publishers holding one QoS 1 message each in flight for an offline session, the store's queue rate rose from
/// 13.0-14.1k to 16.3-16.5k msg/s without the spinning (3 alternating runs each, PVM guest), and B's, C's latency and
/// the other rows did not change. For <c>gatehouse bench</c> it is left on: with its workers sleeping, C's p50 read
/// 220-360 µs instead of 115-165 µs against the same broker.
/// </summary>
public static class ThreadPoolSpinning
{
    private const string SpinLimitSetting = "System.Threading.ThreadPool.UnfairSemaphoreSpinLimit";
    private const string SpinLimitVariable = "DOTNET_ThreadPool_UnfairSemaphoreSpinLimit";

    /// <summary>
    /// Sets the spin limit to 0 on one core unless the environment sets it. The pool reads the setting when it is first
    /// used, so this must run before anything queues work (first thing in <c>Program</c>). Returns whether it applied.
    /// </summary>
    public static bool DisableOnOneCore()
    {
        if (Environment.ProcessorCount != 1) return false;
        if (Environment.GetEnvironmentVariable(SpinLimitVariable) is not null || AppContext.GetData(SpinLimitSetting) is not null) return false;
        AppContext.SetData(SpinLimitSetting, 0);
        Disabled = true;
        return true;
    }

    /// <summary>Whether <see cref="DisableOnOneCore"/> applied in this process (for the start-up log).</summary>
    public static bool Disabled { get; private set; }
}
