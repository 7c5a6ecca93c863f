using System.Runtime.InteropServices;

namespace Gatehouse.Transport.Sockets;

/// <summary>The Linux epoll calls the readiness loop needs (epoll(7)).</summary>
internal static partial class Epoll
{
    public const int CloExec = 0x80000;       // EPOLL_CLOEXEC
    public const int CtlAdd = 1;              // EPOLL_CTL_ADD
    public const int CtlDel = 2;              // EPOLL_CTL_DEL
    public const int CtlMod = 3;              // EPOLL_CTL_MOD
    public const uint In = 0x001;             // EPOLLIN
    public const uint Out = 0x004;            // EPOLLOUT
    public const uint Err = 0x008;            // EPOLLERR
    public const uint Hup = 0x010;            // EPOLLHUP
    public const uint RdHup = 0x2000;         // EPOLLRDHUP
    public const uint EdgeTriggered = 1u << 31; // EPOLLET

    /// <summary>struct epoll_event is packed (12 bytes) on x86-64 and naturally aligned (16 bytes) elsewhere.</summary>
    public static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    public static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    public static bool IsSupported => OperatingSystem.IsLinux()
        && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    public static partial int Create(int flags);

    /// <summary>Takes the watched socket's handle, so the descriptor cannot close (and its number be reused) meanwhile.</summary>
    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    public static unsafe partial int Control(int epfd, int op, SafeHandle fd, byte* @event);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    public static unsafe partial int Wait(int epfd, byte* events, int maxEvents, int timeout);
}
