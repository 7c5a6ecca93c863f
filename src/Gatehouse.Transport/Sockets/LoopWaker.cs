using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Gatehouse.Transport.Sockets;

/// <summary>
/// An eventfd(2) the <see cref="ReadinessLoop"/> watches beside its sockets, so another thread can wake it from
/// <c>epoll_wait</c> when it posts work (<see cref="ReadinessLoop.Post"/>). Written only while the loop sleeps, once until
/// the loop has woken: a loop that is busy or polling finds the work without a system call on either side. It lives as
/// long as its loop, i.e. the process.
/// </summary>
internal sealed unsafe partial class LoopWaker : IReadinessTarget
{
    private const int NonBlocking = 0x800; // EFD_NONBLOCK
    private const int CloseOnExec = 0x80000; // EFD_CLOEXEC

    private readonly SafeFileHandle _descriptor;
    private int _signaled;

    public LoopWaker()
    {
        var fd = EventFd(0, NonBlocking | CloseOnExec);
        if (fd < 0) throw new SocketException(Marshal.GetLastPInvokeError());
        _descriptor = new SafeFileHandle(fd, ownsHandle: true);
    }

    public SafeHandle Descriptor => _descriptor;

    /// <summary>Wakes the loop unless a wake-up is already on its way.</summary>
    public void Wake()
    {
        if (Interlocked.Exchange(ref _signaled, 1) != 0) return;
        ulong one = 1;
        // Cannot fail short of a counter at its maximum, which one write per wake-up never reaches.
        _ = Write(_descriptor, &one, sizeof(ulong));
    }

    /// <summary>On the loop: the wake-up arrived; the counter is reset so the next write is a new edge.</summary>
    void IReadinessTarget.OnReady(uint events)
    {
        ulong value;
        _ = Read(_descriptor, &value, sizeof(ulong));
        Volatile.Write(ref _signaled, 0);
    }

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    private static partial int EventFd(uint initialValue, int flags);

    [LibraryImport("libc", EntryPoint = "write")]
    private static partial nint Write(SafeHandle fd, void* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "read")]
    private static partial nint Read(SafeHandle fd, void* buffer, nuint count);
}
