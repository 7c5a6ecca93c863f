using System.Net;
using System.Net.Sockets;
using Gatehouse.Transport.Sockets;
using Microsoft.Extensions.Hosting;

namespace Gatehouse.Hosting;

/// <summary>
/// Runs the plain-TCP MQTT listener on Gatehouse's own socket transport: binds when the host starts (after the broker,
/// which starts in the lifecycle's "starting" step) and stops accepting when it stops.
/// </summary>
internal sealed class SocketListenerService(SocketListener listener, ListenerSpec spec, IPAddress bindAddress) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var endPoint = new IPEndPoint(bindAddress, spec.Port);
        try
        {
            listener.Bind(endPoint);
        }
        catch (SocketException ex)
        {
            throw PortProbe.BindFailure(spec, endPoint, ex.SocketErrorCode, ex.Message, ex);
        }
        listener.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => listener.DisposeAsync().AsTask();
}
