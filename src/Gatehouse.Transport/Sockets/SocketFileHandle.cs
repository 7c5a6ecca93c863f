using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Gatehouse.Transport.Sockets;

/// <summary>
/// The file descriptor of one accepted TCP connection, and the calls made on it besides recv/send
/// (<see cref="NonBlockingIo"/>). Owning it this way instead of through a <see cref="Socket"/> saves every connection
/// about 150 bytes (the Socket and its SafeSocketHandle). Every call takes the handle, not the number: the marshaller
/// holds a reference for the call's duration, so the descriptor closes (once, on <see cref="SafeHandle.Dispose()"/>)
/// only after the last call on it returned and can never be a reused number belonging to another connection.
/// </summary>
internal sealed partial class SocketFileHandle : SafeHandle
{
    private const int SockCloExec = 0x80000;  // SOCK_CLOEXEC
    private const int ShutWr = 1;             // SHUT_WR

    /// <summary>Invalid until set; the interop marshaller creates the handle before accept4 runs, so none can leak.</summary>
    public SocketFileHandle() : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    // The descriptor is a C int: a failed accept4's -1 reaches the handle as 0xFFFFFFFF (the upper half of the return
    // register is not sign-extended), so only the low 32 bits are compared.
    public override bool IsInvalid => (int)handle < 0;

    /// <summary>
    /// Takes the next connection queued on <paramref name="listener"/> (which is in blocking mode: call it only when
    /// poll says one is there) and fills <paramref name="remote"/> with its peer's address. Null with
    /// <paramref name="errno"/> set when accept4 failed.
    /// </summary>
    public static unsafe SocketFileHandle? Accept(SafeSocketHandle listener, SocketAddress remote, out int errno)
    {
        remote.Size = remote.Buffer.Length;
        var length = remote.Size;
        SocketFileHandle accepted;
        fixed (byte* address = remote.Buffer.Span)
        {
            accepted = Accept4(listener, address, &length, SockCloExec);
        }
        if (accepted.IsInvalid)
        {
            errno = Marshal.GetLastPInvokeError();
            accepted.Dispose();
            return null;
        }
        errno = 0;
        remote.Size = length;
        return accepted;
    }

    /// <summary>Fills <paramref name="local"/> with the address the connection arrived on (getsockname).</summary>
    public unsafe void GetLocalAddress(SocketAddress local)
    {
        local.Size = local.Buffer.Length;
        var length = local.Size;
        fixed (byte* address = local.Buffer.Span)
        {
            if (GetSockName(this, address, &length) != 0) throw new SocketException(Marshal.GetLastPInvokeError());
        }
        local.Size = length;
    }

    /// <summary>
    /// Sends our FIN after everything written. Errors are not reported: a peer that already reset the connection
    /// (ENOTCONN) has nothing left to read anyway.
    /// </summary>
    public void ShutdownSend() => _ = Shutdown(this, ShutWr);

    // close(2): on Linux the descriptor is released even when close reports an error (EINTR, EIO), so it is never
    // retried, and there is nothing a caller could do about a failure.
    protected override bool ReleaseHandle()
    {
        _ = Close((int)handle);
        return true;
    }

    [LibraryImport("libc", EntryPoint = "accept4", SetLastError = true)]
    private static unsafe partial SocketFileHandle Accept4(SafeSocketHandle listener, byte* address, int* addressLength, int flags);

    [LibraryImport("libc", EntryPoint = "getsockname", SetLastError = true)]
    private static unsafe partial int GetSockName(SocketFileHandle fd, byte* address, int* addressLength);

    [LibraryImport("libc", EntryPoint = "shutdown")]
    private static partial int Shutdown(SocketFileHandle fd, int how);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
