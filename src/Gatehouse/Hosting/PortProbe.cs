using System.Net;
using System.Net.Sockets;

namespace Gatehouse.Hosting;

/// <summary>
/// Checks before start-up that every listener's port can be bound, so that a taken port is reported as
/// "port 1883 is already in use (mqtt)" rather than as a Kestrel stack trace. Binds the way Kestrel does
/// (SO_REUSEADDR off Windows), then lets go. Kestrel's own bind failure is still handled, for the rare race.
/// </summary>
public static class PortProbe
{
    public static void EnsureAvailable(IPAddress address, IEnumerable<ListenerSpec> listeners)
    {
        foreach (var listener in listeners)
        {
            var endPoint = new IPEndPoint(address, listener.Port);
            try
            {
                using var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                if (!OperatingSystem.IsWindows())
                    socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                if (address.Equals(IPAddress.IPv6Any))
                    socket.DualMode = true;
                socket.Bind(endPoint);
            }
            catch (SocketException ex)
            {
                throw BindFailure(listener, endPoint, ex.SocketErrorCode, ex.Message, ex);
            }
        }
    }

    public static SettingsException BindFailure(ListenerSpec listener, IPEndPoint endPoint, SocketError error, string message, Exception? inner)
    {
        var text = error switch
        {
            SocketError.AddressAlreadyInUse => $"port {listener.Port} is already in use ({listener.Name})",
            SocketError.AccessDenied => $"permission denied to listen on port {listener.Port} ({listener.Name})",
            SocketError.AddressNotAvailable => $"cannot listen on {endPoint} ({listener.Name}): the address is not on this machine",
            _ => $"cannot listen on {endPoint} ({listener.Name}): {SettingsException.OneLine(message)}",
        };
        return inner is null ? new SettingsException(text) : new SettingsException(text, inner);
    }
}
