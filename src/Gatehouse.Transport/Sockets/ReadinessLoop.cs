using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Transport.Sockets;

/// <summary>What a <see cref="ReadinessLoop"/> tells when its socket becomes ready: readable (or closed, or failed),
/// or writable once that is watched for too.</summary>
internal interface IReadinessTarget
{
    /// <param name="events">The epoll event bits reported (<see cref="Epoll.In"/>, <see cref="Epoll.Out"/>, ...).</param>
    void OnReady(uint events);
}

/// <summary>
/// An epoll thread that tells waiting <see cref="SocketInput"/>s their socket became readable, and runs them there.
/// Each socket is registered once, edge-triggered, for the life of the connection: waiting costs no system call and no
/// per-wait state, where a zero-byte receive through the runtime's socket engine costs a peek and about 0.6 KB of
/// per-socket asynchronous state (event args, operation, context). The listening socket is watched the same way, so
/// a connection is accepted, and its CONNECT handled, on one thread. Writability is watched only from the first send
/// that found a socket's buffer full (a slow reader, <see cref="WatchWritable"/>). After handling events the loop keeps
/// polling for a short while (Server:IdlePollMicroseconds) before it sleeps, as event loops built for latency do: the
/// next packet then finds it awake, and neither the client's send nor this thread pays for a wake-up.
/// </summary>
internal sealed unsafe class ReadinessLoop
{
    private const int MaxEvents = 256;

    /// <summary>
    /// Sockets the first loop takes before the others get any (see <see cref="Choose"/>). Packets of the sockets one loop
    /// serves are handled in the order they arrived; across loops they are not. MQTT orders only within a connection, but
    /// clients of a small broker (and conformance suites) expect what a single-threaded broker does: a PUBLISH sent after
    /// another client's UNSUBSCRIBE does not reach that client. A loop woken from sleep can be milliseconds late on a
    /// virtual machine, long enough for another, busy loop to route the PUBLISH first.
    /// </summary>
    internal const int FirstLoopShare = 32;

    private static ReadinessLoop[]? s_loops;
    private static readonly Lock s_create = new();

    // Sockets registered and not yet unregistered (listeners included).
    private int _registered;

    private readonly int _epoll;
    private readonly ILogger _log;
    // Stopwatch ticks the loop keeps polling (epoll_wait with no timeout) after it found events, before it sleeps.
    private readonly long _idlePollTicks;
    // Handles of closed connections, freed by the loop between two waits: an event already returned for one may still
    // be in the batch being handled.
    private readonly ConcurrentQueue<GCHandle> _released = new();
    // Targets that stopped before finishing (see ReadyAgain), called again after the events in hand; loop thread only.
    private List<IReadinessTarget> _again = [];
    private List<IReadinessTarget> _againSpare = [];
    // Work other threads hand to this loop (Post), run after the events in hand; the waker ends a sleep for it.
    private readonly ConcurrentQueue<IThreadPoolWorkItem> _posted = new();
    private readonly LoopWaker _waker = new();
    // 1 while the loop waits in epoll_wait without a timeout: a post must then wake it.
    private int _sleeping;

    private ReadinessLoop(int index, ILogger log, TimeSpan idlePoll)
    {
        Index = checked((ushort)index);
        _log = log;
        _idlePollTicks = (long)(idlePoll.TotalSeconds * Stopwatch.Frequency);
        _epoll = Epoll.Create(Epoll.CloExec);
        if (_epoll < 0) throw new SocketException(Marshal.GetLastPInvokeError());
        // Watched for the life of the process, like the loop itself.
        if (Control(Epoll.CtlAdd, _waker.Descriptor, GCHandle.Alloc(_waker), Epoll.In) is { } error) throw error;
        new Thread(Run) { IsBackground = true, Name = $"gatehouse-io-{index}" }.Start();
    }

    /// <summary>
    /// One loop per processor the process may run on, created on first use (with that caller's
    /// <paramref name="idlePoll"/>: how long a loop polls after work before it sleeps); see <see cref="Choose"/> for which
    /// loop a socket gets.
    /// </summary>
    public static ReadinessLoop Next(ILogger log, TimeSpan idlePoll)
    {
        var loops = s_loops ?? CreateLoops(log, idlePoll);
        if (loops.Length == 1) return loops[0];
        Span<int> registered = stackalloc int[loops.Length];
        for (var i = 0; i < loops.Length; i++) registered[i] = Volatile.Read(ref loops[i]._registered);
        return loops[Choose(registered, FirstLoopShare)];
    }

    /// <summary>
    /// The loop for a new socket, given how many each loop serves: the first loop until it serves
    /// <paramref name="firstLoopShare"/> (a small broker then runs on one thread, in arrival order), then the loop serving
    /// the fewest (the lowest index on a tie), so the others catch up with the first and the load ends up even.
    /// </summary>
    internal static int Choose(ReadOnlySpan<int> registered, int firstLoopShare)
    {
        if (registered[0] < firstLoopShare) return 0;
        var chosen = 0;
        for (var i = 1; i < registered.Length; i++)
        {
            if (registered[i] < registered[chosen]) chosen = i;
        }
        return chosen;
    }

    // Apart from Next: its lambda's closure would otherwise be allocated on every call (one per accepted connection).
    private static ReadinessLoop[] CreateLoops(ILogger log, TimeSpan idlePoll)
    {
        lock (s_create)
        {
            return s_loops ??= Enumerable.Range(0, Math.Max(1, Environment.ProcessorCount)).Select(i => new ReadinessLoop(i, log, idlePoll)).ToArray();
        }
    }

    /// <summary>This loop's place among the process's loops (see <see cref="At"/>).</summary>
    internal ushort Index { get; }

    /// <summary>
    /// The loop at <paramref name="index"/>: a connection keeps its loop as this 2-byte number, which fits beside its other
    /// small fields, rather than as an 8-byte reference.
    /// </summary>
    internal static ReadinessLoop At(ushort index) => s_loops![index];

    /// <summary>Watches <paramref name="socket"/> for <paramref name="target"/> until <see cref="Unregister"/>.</summary>
    public GCHandle Register(SafeHandle socket, IReadinessTarget target)
    {
        var handle = GCHandle.Alloc(target);
        if (Control(Epoll.CtlAdd, socket, handle, Epoll.In | Epoll.RdHup) is { } error)
        {
            handle.Free();
            throw error;
        }
        Interlocked.Increment(ref _registered);
        return handle;
    }

    /// <summary>
    /// Reports writability from now on as well. epoll re-checks the socket when its interest changes, so a buffer that
    /// drained between the send that found it full and this call is reported too.
    /// </summary>
    public void WatchWritable(SafeHandle socket, GCHandle registration)
    {
        if (Control(Epoll.CtlMod, socket, registration, Epoll.In | Epoll.RdHup | Epoll.Out) is { } error) throw error;
    }

    /// <summary>
    /// Called on the loop's thread by a target that stopped with work left (an edge-triggered socket reports no new
    /// event for it): the loop calls it again once it has handled the other events in hand, before it waits.
    /// </summary>
    public void ReadyAgain(IReadinessTarget target) => _again.Add(target);

    /// <summary>
    /// Runs <paramref name="work"/> on this loop's thread, after the events it is handling (or at once, if it sleeps). For
    /// work that belongs with the connections this loop serves, such as a writer resumed after a group commit: a
    /// thread-pool hand-off would cost a wake-up of a pool thread on each.
    /// </summary>
    public void Post(IThreadPoolWorkItem work)
    {
        _posted.Enqueue(work);
        // Enqueue is a full fence, so this read cannot move before it; the loop sets _sleeping, fences, then looks at the
        // queue: one of the two sides sees the other.
        if (Volatile.Read(ref _sleeping) != 0) _waker.Wake();
    }

    /// <summary>Stops watching (before the socket closes) and frees the handle once no event can refer to it.</summary>
    public void Unregister(SafeHandle socket, GCHandle handle)
    {
        try
        {
            Control(Epoll.CtlDel, socket, handle, 0);
        }
        catch (ObjectDisposedException)
        {
            // Closed already: closing removed it from the epoll set.
        }
        Interlocked.Decrement(ref _registered);
        _released.Enqueue(handle);
    }

    private SocketException? Control(int operation, SafeHandle socket, GCHandle target, uint events)
    {
        var ev = stackalloc byte[16];
        *(uint*)ev = events | Epoll.EdgeTriggered;
        *(nint*)(ev + Epoll.DataOffset) = GCHandle.ToIntPtr(target);
        return Epoll.Control(_epoll, operation, socket, ev) == 0 ? null : new SocketException(Marshal.GetLastPInvokeError());
    }

    private void Run()
    {
        var events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * Epoll.EventSize));
        long pollUntil = 0;
        while (true)
        {
            while (_released.TryDequeue(out var handle)) handle.Free();
            // With targets to call again, or within the idle poll, only look for new events; otherwise wait for them.
            var poll = _again.Count > 0 || _idlePollTicks > 0 && Stopwatch.GetTimestamp() < pollUntil;
            if (!poll)
            {
                Interlocked.Exchange(ref _sleeping, 1);
                poll = !_posted.IsEmpty;
            }
            var count = Epoll.Wait(_epoll, events, MaxEvents, poll ? 0 : -1);
            Volatile.Write(ref _sleeping, 0);
            var ranPosted = RunPosted();
            if (count > 0 || ranPosted)
            {
                if (_idlePollTicks > 0) pollUntil = Stopwatch.GetTimestamp() + _idlePollTicks;
            }
            else if (count == 0 && _again.Count == 0 && _posted.IsEmpty)
            {
                // Polling: let any other thread that is ready to run on this core go first.
                Thread.Yield();
            }
            if (count < 0)
            {
                var error = Marshal.GetLastPInvokeError();
                if (error == Errno.Eintr) continue;
                _log.LogCritical("epoll_wait failed with errno {Error}; TCP connections on this I/O thread stop receiving", error);
                return;
            }
            for (var i = 0; i < count; i++)
            {
                var ev = events + i * Epoll.EventSize;
                if (GCHandle.FromIntPtr(*(nint*)(ev + Epoll.DataOffset)).Target is not IReadinessTarget target) continue;
                Dispatch(target, *(uint*)ev);
            }
            if (_again.Count == 0) continue;
            // Swapped first: a target called here may ask to be called again, for the next round.
            var again = _again;
            (_again, _againSpare) = (_againSpare, again);
            foreach (var target in again) Dispatch(target, Epoll.In);
            again.Clear();
        }
    }

    /// <summary>Runs the work posted so far (not what it posts in turn: that waits for the next round); true if there was any.</summary>
    private bool RunPosted()
    {
        var count = _posted.Count;
        if (count == 0) return false;
        for (var i = 0; i < count && _posted.TryDequeue(out var work); i++)
        {
            try
            {
                work.Execute();
            }
            catch (Exception ex)
            {
                _log.LogError(ex, "Work posted to an I/O thread failed");
            }
        }
        return true;
    }

    private void Dispatch(IReadinessTarget target, uint events)
    {
        try
        {
            target.OnReady(events);
        }
        catch (Exception ex)
        {
            // A connection's failure stays with it; the loop serves every other connection.
            _log.LogError(ex, "Handling a ready socket failed");
        }
    }
}
