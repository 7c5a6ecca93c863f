using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Gatehouse.Transport.Sockets;

/// <summary>
/// recv/send that never block, through MSG_DONTWAIT, on a socket left in blocking mode. Switching a .NET socket to
/// non-blocking mode creates its asynchronous context (about 150 bytes per connection, plus its locks) that the
/// readiness loop makes unnecessary; a send that must wait for a slow reader still goes through the runtime
/// (<see cref="Socket.SendAsync(ReadOnlyMemory{byte}, SocketFlags, CancellationToken)"/>), which then creates it.
/// </summary>
internal static unsafe partial class NonBlockingIo
{
    private const int DontWait = 0x40;    // MSG_DONTWAIT
    private const int NoSignal = 0x4000;  // MSG_NOSIGNAL: a closed peer is EPIPE, not SIGPIPE
    private const int Eagain = 11;
    /// <summary>errno EINTR, for every libc call here and in <see cref="Epoll"/>.</summary>
    public const int Eintr = 4;

    /// <summary>Bytes received (0: the peer closed its side); <see cref="SocketError.WouldBlock"/> when nothing is there.</summary>
    public static int Receive(int fd, Span<byte> buffer, out SocketError error)
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
    public static int Send(int fd, ReadOnlySpan<byte> buffer, out SocketError error)
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
    private static bool Interrupted(nint result) => result < 0 && Marshal.GetLastPInvokeError() == Eintr;

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
        Eagain => SocketError.WouldBlock,
        104 => SocketError.ConnectionReset,    // ECONNRESET
        32 => SocketError.Shutdown,            // EPIPE
        110 => SocketError.TimedOut,           // ETIMEDOUT
        107 => SocketError.NotConnected,       // ENOTCONN
        9 => SocketError.OperationAborted,     // EBADF
        _ => SocketError.SocketError,
    };

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    private static partial nint Recv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    private static partial nint SendTo(int fd, byte* buffer, nuint length, int flags);
}
