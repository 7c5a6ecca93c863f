using System.Net;
using System.Net.Sockets;

namespace Gatehouse.Transport.Sockets;

/// <summary>
/// The endpoints of accepted connections, for their <see cref="Gatehouse.Broker.Connections.ConnectionInfo"/>. The
/// local endpoint decides, with the remote one, whether a client counts as local (the anonymous policy), so it must be
/// the address the connection really arrived on: on a listener bound to one address that is the bound endpoint, shared
/// by every connection (as the runtime's Accept does); on a wildcard listener it is asked for per connection, and a
/// connection to the same address as the one before shares its object. Not thread-safe: used under the listener's
/// accept lock.
/// </summary>
internal sealed class AcceptedEndPoints
{
    private readonly IPEndPoint _bound;
    private readonly bool _wildcard;
    // Reused buffers: the native sockaddr that accept4 and getsockname fill (SocketAddress holds the platform's layout).
    private SocketAddress _local;
    private SocketAddress _lastLocal;
    private IPEndPoint? _lastLocalEndPoint;

    public AcceptedEndPoints(IPEndPoint bound)
    {
        _bound = bound;
        _wildcard = bound.Address.Equals(IPAddress.Any) || bound.Address.Equals(IPAddress.IPv6Any);
        Remote = NewAddress(bound.AddressFamily);
        _local = NewAddress(bound.AddressFamily);
        _lastLocal = NewAddress(bound.AddressFamily);
    }

    /// <summary>The buffer accept4 fills with the peer's address.</summary>
    public SocketAddress Remote { get; }

    /// <summary>The peer of the connection just accepted (from <see cref="Remote"/>). On a dual-mode listener an IPv4
    /// peer is an IPv4-mapped IPv6 address, as the runtime reports it.</summary>
    public IPEndPoint RemoteEndPoint() => (IPEndPoint)_bound.Create(Remote);

    public IPEndPoint LocalEndPoint(SocketFileHandle connection)
    {
        if (!_wildcard) return _bound;
        connection.GetLocalAddress(_local);
        if (_lastLocalEndPoint is null || !_local.Equals(_lastLocal))
        {
            _lastLocalEndPoint = (IPEndPoint)_bound.Create(_local);
            // Keep the raw address the endpoint came from for the next comparison; the old buffer takes the next call.
            (_lastLocal, _local) = (_local, _lastLocal);
        }
        return _lastLocalEndPoint;
    }

    private static SocketAddress NewAddress(AddressFamily family) => new(family, SocketAddress.GetMaximumAddressSize(family));
}
