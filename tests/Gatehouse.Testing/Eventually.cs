using System.Diagnostics;

namespace Gatehouse.Testing;

/// <summary>Polls a condition until it holds or a deadline passes. Tests wait for conditions, never for fixed times.</summary>
public static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(20);

    /// <summary>Returns true as soon as <paramref name="condition"/> holds, false when <paramref name="timeout"/> ran out.</summary>
    public static async Task<bool> Until(Func<bool> condition, TimeSpan? timeout = null)
        => await Until(() => Task.FromResult(condition()), timeout);

    public static async Task<bool> Until(Func<Task<bool>> condition, TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        var limit = timeout ?? DefaultTimeout;
        while (true)
        {
            if (await condition()) return true;
            if (deadline.Elapsed >= limit) return false;
            await Task.Delay(PollInterval);
        }
    }

    /// <summary>Like <see cref="Until(Func{bool}, TimeSpan?)"/> but throws with <paramref name="because"/> on timeout.</summary>
    public static async Task Assert(Func<bool> condition, string because, TimeSpan? timeout = null)
    {
        if (!await Until(condition, timeout))
            throw new TimeoutException($"Condition not met within {(timeout ?? DefaultTimeout).TotalSeconds:0.#} s: {because}");
    }

    public static async Task Assert(Func<Task<bool>> condition, string because, TimeSpan? timeout = null)
    {
        if (!await Until(condition, timeout))
            throw new TimeoutException($"Condition not met within {(timeout ?? DefaultTimeout).TotalSeconds:0.#} s: {because}");
    }
}
