using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Gatehouse.Broker.Connections;

namespace Gatehouse.Transport.Sockets;

/// <summary>
/// The endpoints of accepted connections, for their <see cref="Gatehouse.Broker.Connections.ConnectionInfo"/>. The
/// local endpoint decides, with the remote one, whether a client counts as local (the anonymous policy), so it must be
/// the address the connection really arrived on: on a listener bound to one address that is the bound endpoint, shared
/// by every connection (as the runtime's Accept does); on a wildcard listener it is asked for per connection, and a
/// connection to the same address as the one before shares its object. The remote address is shared the same way:
/// clients behind one gateway or NAT (or a load generator) arrive from one address, and each would otherwise hold its own
/// 40-byte copy. Not thread-safe: used under the listener's accept lock.
/// </summary>
internal sealed class AcceptedEndPoints
{
    private readonly IPEndPoint _bound;
    private readonly bool _wildcard;
    // Reused buffers: the native sockaddr that accept4 and getsockname fill (SocketAddress holds the platform's layout).
    private SocketAddress _local;
    private SocketAddress _lastLocal;
    private IPEndPoint? _lastLocalEndPoint;
    // The raw address of the last peer and the IPAddress made from it.
    private readonly byte[] _lastRemote;
    private int _lastRemoteLength;
    private IPAddress? _lastRemoteAddress;
    private ConnectionOrigin? _lastOrigin;

    public AcceptedEndPoints(IPEndPoint bound)
    {
        _bound = bound;
        _wildcard = bound.Address.Equals(IPAddress.Any) || bound.Address.Equals(IPAddress.IPv6Any);
        Remote = NewAddress(bound.AddressFamily);
        _local = NewAddress(bound.AddressFamily);
        _lastLocal = NewAddress(bound.AddressFamily);
        _lastRemote = new byte[Remote.Buffer.Length];
    }

    /// <summary>The buffer accept4 fills with the peer's address.</summary>
    public SocketAddress Remote { get; }

    /// <summary>The peer of the connection just accepted (from <see cref="Remote"/>): its address, shared with the connection
    /// before it when that came from the same address, and its port. On a dual-mode listener an IPv4 peer is an
    /// IPv4-mapped IPv6 address, as the runtime reports it.</summary>
    public IPAddress RemoteAddress(out int port)
    {
        // sockaddr_in and sockaddr_in6 alike: the family in bytes 0-1, the port in 2-3 (network order), the address (and
        // for IPv6 flow and scope) after it. Same bytes apart from the port: the same address.
        var raw = Remote.Buffer.Span[..Remote.Size];
        port = BinaryPrimitives.ReadUInt16BigEndian(raw[2..4]);
        var last = _lastRemote.AsSpan(0, _lastRemoteLength);
        if (_lastRemoteAddress is not null && raw.Length == last.Length && raw[..2].SequenceEqual(last[..2]) && raw[4..].SequenceEqual(last[4..]))
        {
            return _lastRemoteAddress;
        }
        var endPoint = (IPEndPoint)_bound.Create(Remote);
        raw.CopyTo(_lastRemote);
        _lastRemoteLength = raw.Length;
        _lastRemoteAddress = endPoint.Address;
        return endPoint.Address;
    }

    /// <summary>How the connection just accepted arrived: one object for every connection to the same local endpoint.</summary>
    public ConnectionOrigin Origin(SafeHandle connection)
    {
        var local = LocalEndPoint(connection);
        if (_lastOrigin is null || !ReferenceEquals(_lastOrigin.LocalEndPoint, local))
        {
            _lastOrigin = new ConnectionOrigin(ListenerNames.Tcp, local, IsSecure: false);
        }
        return _lastOrigin;
    }

    public IPEndPoint LocalEndPoint(SafeHandle connection)
    {
        if (!_wildcard) return _bound;
        SocketDescriptor.GetLocalAddress(connection, _local);
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
