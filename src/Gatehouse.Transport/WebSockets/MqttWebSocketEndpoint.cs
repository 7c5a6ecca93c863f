using System.Net;
using System.Net.WebSockets;
using Gatehouse.Broker;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Gatehouse.Transport.WebSockets;

/// <summary>
/// MQTT over WebSocket at <see cref="Path"/> (MQTT 5.0 §6). Needs <c>UseWebSockets()</c> earlier in the pipeline.
/// </summary>
/// <remarks>
/// Subprotocol: <c>mqtt</c> is chosen when offered, else <c>mqttv3.1</c> (old 3.1 clients). A client that offers
/// neither is still accepted, without a subprotocol, as Mosquitto does: some embedded clients send none.
/// </remarks>
public static class MqttWebSocketEndpoint
{
    public const string Path = "/mqtt";

    /// <summary>Subprotocols we accept, in order of preference.</summary>
    public static IReadOnlyList<string> SubProtocols { get; } = ["mqtt", "mqttv3.1"];

    /// <summary>Picks the subprotocol to answer with, as spelled by the client; null when none of ours was offered.</summary>
    public static string? SelectSubProtocol(IEnumerable<string> requested)
    {
        var offered = requested.ToList();
        foreach (var ours in SubProtocols)
        {
            var match = offered.Find(p => string.Equals(p.Trim(), ours, StringComparison.OrdinalIgnoreCase));
            if (match is not null)
                return match.Trim();
        }
        return null;
    }

    /// <summary>Serves <see cref="Path"/>: upgrades to a WebSocket and runs the MQTT connection; 404 for any other path.</summary>
    public static async Task HandleAsync(HttpContext context)
    {
        if (!string.Equals(context.Request.Path.Value?.TrimEnd('/'), Path, StringComparison.Ordinal))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("MQTT over WebSocket: connect with a WebSocket client (subprotocol \"mqtt\").\n");
            return;
        }

        var services = context.RequestServices;
        var broker = services.GetRequiredService<MqttBroker>();
        var options = services.GetRequiredService<IOptions<WebSocketDuplexPipeOptions>>().Value;
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(MqttWebSocketEndpoint));

        var subProtocol = SelectSubProtocol(context.WebSockets.WebSocketRequestedProtocols);
        using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            SubProtocol = subProtocol,
            DangerousEnableCompression = false,
        });

        var connection = context.Connection;
        var secure = context.Request.IsHttps;
        var info = new Broker.Connections.ConnectionInfo(
            secure ? ListenerNames.SecureWebSocket : ListenerNames.WebSocket,
            connection.RemoteIpAddress is null ? null : new IPEndPoint(connection.RemoteIpAddress, connection.RemotePort),
            connection.LocalIpAddress is null ? null : new IPEndPoint(connection.LocalIpAddress, connection.LocalPort),
            IsSecure: secure,
            ClientCertificate: connection.ClientCertificate);

        var pipe = new WebSocketDuplexPipe(socket, options);
        var closed = context.RequestAborted;
        var pumps = pipe.RunAsync(closed);
        try
        {
            await broker.HandleConnectionAsync(pipe, info, closed);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogError(ex, "WebSocket connection {ConnectionId} from {RemoteEndPoint} failed", connection.Id, info.RemoteEndPoint);
        }
        finally
        {
            pipe.CompleteApplication();
            await pumps;
        }
    }
}
