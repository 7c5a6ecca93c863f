using Gatehouse.Broker;
using Gatehouse.Broker.Connections;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Transport.Tcp;

/// <summary>
/// Kestrel connection handler for the plain TCP and TLS MQTT listeners. Kestrel (and, on a TLS listener, its
/// HTTPS middleware) owns the socket and the TLS stream; the broker gets the connection's duplex pipe and does all
/// MQTT parsing and writing.
/// </summary>
public sealed class MqttConnectionHandler(MqttBroker broker, ILogger<MqttConnectionHandler> logger) : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var tls = connection.Features.Get<ITlsConnectionFeature>();
        var info = new ConnectionInfo(
            tls is null ? ListenerNames.Tcp : ListenerNames.Tls,
            connection.RemoteEndPoint,
            connection.LocalEndPoint,
            IsSecure: tls is not null,
            ClientCertificate: tls?.ClientCertificate);

        try
        {
            await broker.HandleConnectionAsync(connection.Transport, info, connection.ConnectionClosed);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The broker promises not to throw for anything the peer does; if it does anyway, keep it to this connection.
            logger.LogError(ex, "Connection {ConnectionId} from {RemoteEndPoint} failed", connection.ConnectionId, connection.RemoteEndPoint);
        }
    }
}
