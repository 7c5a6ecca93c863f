using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Gatehouse.Transport.Sockets;

/// <summary>
/// recv/send that never block, through MSG_DONTWAIT, on a socket left in blocking mode: nothing else uses the
/// descriptor's blocking flag, and waiting is the <see cref="ReadinessLoop"/>'s job (readable, and writable again
/// after a send found the socket's buffer full).
/// </summary>
internal static unsafe partial class NonBlockingIo
{
    private const int DontWait = 0x40;    // MSG_DONTWAIT
    private const int NoSignal = 0x4000;  // MSG_NOSIGNAL: a closed peer is EPIPE, not SIGPIPE

    /// <summary>Bytes received (0: the peer closed its side); <see cref="SocketError.WouldBlock"/> when nothing is there.</summary>
    public static int Receive(SafeHandle fd, Span<byte> buffer, out SocketError error)
    {
        fixed (byte* p = buffer)
        {
            nint n;
            do n = Recv(fd, p, (nuint)buffer.Length, DontWait);
            while (Interrupted(n));
            return Result(n, out error);
        }
    }

    /// <summary>Bytes the kernel took (possibly fewer than offered); <see cref="SocketError.WouldBlock"/> when none.</summary>
    public static int Send(SafeHandle fd, ReadOnlySpan<byte> buffer, out SocketError error)
    {
        fixed (byte* p = buffer)
        {
            nint n;
            do n = SendTo(fd, p, (nuint)buffer.Length, DontWait | NoSignal);
            while (Interrupted(n));
            return Result(n, out error);
        }
    }

    /// <summary>A call that failed with EINTR (a signal arrived first) is simply made again.</summary>
    private static bool Interrupted(nint result) => result < 0 && Marshal.GetLastPInvokeError() == Errno.Eintr;

    private static int Result(nint result, out SocketError error)
    {
        if (result >= 0)
        {
            error = SocketError.Success;
            return (int)result;
        }
        error = ToSocketError(Marshal.GetLastPInvokeError());
        return 0;
    }

    private static SocketError ToSocketError(int errno) => errno switch
    {
        Errno.Eagain => SocketError.WouldBlock,
        Errno.Econnreset => SocketError.ConnectionReset,
        Errno.Epipe => SocketError.Shutdown,
        Errno.Etimedout => SocketError.TimedOut,
        Errno.Enotconn => SocketError.NotConnected,
        _ => SocketError.SocketError,
    };

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    private static partial nint Recv(SafeHandle fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    private static partial nint SendTo(SafeHandle fd, byte* buffer, nuint length, int flags);
}
