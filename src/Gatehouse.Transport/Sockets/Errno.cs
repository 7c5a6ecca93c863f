namespace Gatehouse.Transport.Sockets;

/// <summary>The Linux errno values the socket transport tells apart (errno(3)).</summary>
internal static class Errno
{
    public const int Eintr = 4;           // a signal arrived first: make the call again
    public const int Eagain = 11;         // also EWOULDBLOCK
    public const int Epipe = 32;
    public const int Econnaborted = 103;
    public const int Econnreset = 104;
    public const int Enotconn = 107;
    public const int Etimedout = 110;
}
