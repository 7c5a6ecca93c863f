namespace Gatehouse.Transport;

/// <summary>The values transports put in <see cref="Broker.Connections.ConnectionInfo.Listener"/>.</summary>
public static class ListenerNames
{
    public const string Tcp = "tcp";
    public const string Tls = "tls";
    public const string WebSocket = "ws";
    public const string SecureWebSocket = "wss";
}
