using System.Runtime.InteropServices;

namespace Gatehouse.Hosting;

/// <summary>
/// Grows the process's file-descriptor table once, at start-up, to the size its connections will need. Linux doubles
/// the table when a descriptor number reaches its size (256, 512, ... 16384 ...), and in a process with more than one
/// thread each doubling waits for an RCU grace period (synchronize_rcu in expand_fdtable): 10-20 ms here, with the
/// accept4 or socket call that crossed the boundary blocked meanwhile. During a connect storm that stalled the
/// epoll thread, and every client waiting for a CONNACK, six times on the way to 10,000 connections; a single-threaded
/// broker (Mosquitto) never pays it. The table never shrinks, so growing it ahead costs only its kernel memory: 8 bytes
/// per descriptor, none of it in the process's RSS.
/// </summary>
public static partial class DescriptorTable
{
    /// <summary>The largest table grown ahead (2 MB of kernel memory); beyond it the kernel grows it as connections come.</summary>
    public const int MaxPresized = 256 * 1024;

    private const int FDupFdCloExec = 1030; // F_DUPFD_CLOEXEC

    /// <summary>
    /// Makes room for descriptors below <paramref name="descriptors"/> (capped at <see cref="MaxPresized"/> and
    /// <paramref name="openFileLimit"/>, from <see cref="DescriptorBudget"/>) by opening a descriptor just below that
    /// number and closing it again. Linux only; does nothing elsewhere. Returns the table size now ensured, or null.
    /// </summary>
    public static int? Presize(long descriptors, long openFileLimit)
    {
        if (!OperatingSystem.IsLinux()) return null;
        var size = (int)Math.Min(Math.Min(descriptors, openFileLimit), MaxPresized);
        if (size <= 256) return null; // the table starts that large
        // F_DUPFD picks the lowest free number at or above the one asked for, so no open descriptor is touched.
        var fd = Fcntl(0, FDupFdCloExec, size - 1);
        if (fd < 0) return null;
        // A descriptor nobody else has seen: closing it cannot fail in a way that matters here.
        _ = Close(fd);
        return size;
    }

    [DllImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static extern int Fcntl(int fd, int command, int argument);

    [DllImport("libc", EntryPoint = "close")]
    private static extern int Close(int fd);
}
