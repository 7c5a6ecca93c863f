using System.Net;
using System.Net.Sockets;

namespace Gatehouse.Testing;

/// <summary>Picks a TCP port that was free a moment ago (bind to port 0, read it, close). Callers retry when it got taken.</summary>
public static class FreePort
{
    public static int Next()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
