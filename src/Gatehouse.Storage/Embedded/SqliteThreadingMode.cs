using SQLitePCL;

namespace Gatehouse.Storage.Embedded;

/// <summary>
/// Puts SQLite into multi-thread mode for the whole process. Every connection Gatehouse opens is used by one thread at a
/// time: the broker store's by its writer thread only, the security store's under its lock, the CLI's by its one thread.
/// SQLite's default, serialized mode, then only adds a mutex lock and unlock around every call into the library (each
/// bind, step and reset): about 5 % of the broker's CPU while messages queue for an offline session.
/// </summary>
public static class SqliteThreadingMode
{
    /// <summary>
    /// Switches to multi-thread mode. SQLite accepts this only before it is first used in the process, so the host calls
    /// it first thing; returns false (and SQLite stays serialized, which is safe) when it is too late.
    /// </summary>
    public static bool UseMultiThread()
    {
        Batteries_V2.Init();
        var applied = raw.sqlite3_config(raw.SQLITE_CONFIG_MULTITHREAD) == raw.SQLITE_OK;
        if (applied) Current = "multi-thread";
        return applied;
    }

    /// <summary>What <see cref="UseMultiThread"/> achieved in this process (for the start-up log).</summary>
    public static string Current { get; private set; } = "serialized";
}
