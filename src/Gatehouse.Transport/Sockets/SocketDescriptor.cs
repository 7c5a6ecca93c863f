using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Gatehouse.Transport.Sockets;

/// <summary>
/// The calls made on an accepted connection's file descriptor besides recv/send (<see cref="NonBlockingIo"/>). Owning it
/// this way instead of through a <see cref="Socket"/> saves every connection about 150 bytes (the Socket and its
/// SafeSocketHandle). The descriptor's owner is its <see cref="SocketConnection"/>, a <see cref="SafeHandle"/>: every
/// call takes the handle, not the number, so the marshaller holds a reference for the call's duration and the
/// descriptor closes only after the last call on it returned; it can never be a reused number of another connection.
/// </summary>
internal static unsafe partial class SocketDescriptor
{
    private const int SockCloExec = 0x80000;  // SOCK_CLOEXEC
    private const int ShutWr = 1;             // SHUT_WR

    /// <summary>
    /// Takes the next connection queued on <paramref name="listener"/> (non-blocking: EAGAIN when none is) into
    /// <paramref name="connection"/>, which holds no descriptor yet and owns this one from the instant accept4 returns it,
    /// and fills <paramref name="remote"/> with its peer's address. False with <paramref name="errno"/> set when accept4
    /// failed.
    /// </summary>
    public static bool TryAccept(SafeSocketHandle listener, SocketInput connection, SocketAddress remote, out int errno)
    {
        remote.Size = remote.Buffer.Length;
        var length = remote.Size;
        int descriptor;
        fixed (byte* address = remote.Buffer.Span)
        {
            descriptor = Accept4(listener, address, &length, SockCloExec);
        }
        if (descriptor < 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return false;
        }
        connection.Adopt(descriptor);
        errno = 0;
        remote.Size = length;
        return true;
    }

    /// <summary>Fills <paramref name="local"/> with the address the connection arrived on (getsockname).</summary>
    public static void GetLocalAddress(SafeHandle connection, SocketAddress local)
    {
        local.Size = local.Buffer.Length;
        var length = local.Size;
        fixed (byte* address = local.Buffer.Span)
        {
            if (GetSockName(connection, address, &length) != 0) throw new SocketException(Marshal.GetLastPInvokeError());
        }
        local.Size = length;
    }

    /// <summary>
    /// Sends our FIN after everything written. Errors are not reported: a peer that already reset the connection
    /// (ENOTCONN) has nothing left to read anyway.
    /// </summary>
    public static void ShutdownSend(SafeHandle connection) => _ = Shutdown(connection, ShutWr);

    /// <summary>
    /// setsockopt(TCP_QUICKACK, 1): acknowledges what was received now if the acknowledgement was being held back for a
    /// reply, and leaves delayed-ACK mode until the kernel sees request-reply traffic again. Best effort: a failure
    /// (the socket already closed) changes nothing that matters.
    /// </summary>
    public static void AcknowledgeNow(SafeHandle connection)
    {
        var on = 1;
        _ = SetSockOpt(connection, IpProtoTcp, TcpQuickAck, &on, sizeof(int));
    }

    /// <summary>close(2): on Linux the descriptor is released even when close reports an error (EINTR, EIO), so it is never retried.</summary>
    public static void Close(int descriptor) => _ = CloseDescriptor(descriptor);

    private const int IpProtoTcp = 6;
    private const int TcpQuickAck = 12;

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    private static partial int SetSockOpt(SafeHandle fd, int level, int name, void* value, int length);

    [LibraryImport("libc", EntryPoint = "accept4", SetLastError = true)]
    private static partial int Accept4(SafeSocketHandle listener, byte* address, int* addressLength, int flags);

    [LibraryImport("libc", EntryPoint = "getsockname", SetLastError = true)]
    private static partial int GetSockName(SafeHandle fd, byte* address, int* addressLength);

    [LibraryImport("libc", EntryPoint = "shutdown")]
    private static partial int Shutdown(SafeHandle fd, int how);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int CloseDescriptor(int fd);
}
