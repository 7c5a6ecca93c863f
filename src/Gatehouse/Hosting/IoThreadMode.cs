namespace Gatehouse.Hosting;

/// <summary>
/// Socket completions run on the runtime's epoll threads in <c>gatehouse serve</c>. By default .NET hands every
/// completed socket operation from its epoll thread to the thread pool, one hand-off (on a busy core, a context
/// switch) per received packet before any broker code runs. Inline, a readable connection's read loop parses, routes
/// and (through <c>DeferredWrites</c>) writes to the subscribers on the epoll thread itself and is back in
/// <c>epoll_wait</c> when it next has to wait, the way an event-loop broker works. Measured on the 2-core bench machine
/// with the broker pinned to one core (docs/PERFORMANCE.md): paced QoS 1 pairs p50 145–163 → 106–135 µs, unpaced pairs
/// 357k → 507k msg/s, fan-in QoS 0 1.83M → 2.23M msg/s. Nothing the read loop runs blocks: store commits wait on the
/// store's own thread, and a CONNECT whose password must be verified moves off the I/O thread first.
/// An operator's own setting of the variable (0 turns it off) is left alone.
/// </summary>
public static class IoThreadMode
{
    public const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>Must run before the first asynchronous socket operation of the process (the runtime reads the variable once).</summary>
    public static void ApplyForServe(string[] args)
    {
        if (args.Length == 0 || args[0] != "serve") return;
        if (Environment.GetEnvironmentVariable(InlineCompletionsVariable) is not null) return;
        Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
    }
}
