using System.Net;
using System.Net.Sockets;

namespace Gatehouse.Testing;

/// <summary>Picks a TCP port that was free a moment ago (bind to port 0, read it, close). Callers retry when it got taken.</summary>
public static class FreePort
{
    // Once its socket is closed, the kernel may hand the same port to the next bind at once, so a server given several
    // ports picked in a row (MQTT, TLS, WebSocket) could get one twice and refuse to start. Ports this process handed out
    // lately are therefore skipped.
    private const int Remembered = 512;
    private static readonly Queue<int> Recent = new();
    private static readonly HashSet<int> RecentSet = [];

    public static int Next()
    {
        lock (Recent)
        {
            while (true)
            {
                int port;
                using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
                {
                    socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                    port = ((IPEndPoint)socket.LocalEndPoint!).Port;
                }
                if (!RecentSet.Add(port)) continue;
                Recent.Enqueue(port);
                if (Recent.Count > Remembered) RecentSet.Remove(Recent.Dequeue());
                return port;
            }
        }
    }
}
