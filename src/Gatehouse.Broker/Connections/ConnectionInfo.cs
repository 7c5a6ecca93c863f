using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace Gatehouse.Broker.Connections;

/// <summary>
/// What a transport knows about an accepted connection. A value held inside the connection rather than an object of its
/// own: every connection has one for its whole life, and as an object it cost each a header and a reference (24 bytes).
/// What connections arriving the same way have in common is one shared <see cref="ConnectionOrigin"/> (16 bytes fewer
/// in each), and the peer is kept as its address (shared by the connections from one address) and port: the
/// <see cref="IPEndPoint"/> (32 bytes) is made only when asked for, for a log line (authentication takes address and port).
/// </summary>
public readonly record struct ConnectionInfo(ConnectionOrigin Origin, IPAddress? RemoteAddress, int RemotePort, X509Certificate2? ClientCertificate = null)
{
    /// <summary>A connection whose origin is not shared (a transport that has no cache of them).</summary>
    public ConnectionInfo(string Listener, EndPoint? RemoteEndPoint, EndPoint? LocalEndPoint, bool IsSecure, X509Certificate2? ClientCertificate = null)
        : this(new ConnectionOrigin(Listener, LocalEndPoint, IsSecure), (RemoteEndPoint as IPEndPoint)?.Address, (RemoteEndPoint as IPEndPoint)?.Port ?? 0, ClientCertificate)
    {
    }

    /// <summary>Listener name for logs and limits: "tcp", "tls", "ws", "wss".</summary>
    public string Listener => Origin.Listener;
    public EndPoint? LocalEndPoint => Origin.LocalEndPoint;
    public bool IsSecure => Origin.IsSecure;
    /// <summary>The peer (an IP endpoint; made on each call).</summary>
    public EndPoint? RemoteEndPoint => RemoteAddress is null ? null : new IPEndPoint(RemoteAddress, RemotePort);
}

/// <summary>
/// How a connection arrived: the listener, the local endpoint it arrived on (which, with the remote one, decides whether a
/// client counts as local) and whether the transport is encrypted.
/// </summary>
/// <param name="Listener">Listener name for logs and limits: "tcp", "tls", "ws", "wss".</param>
public sealed record ConnectionOrigin(string Listener, EndPoint? LocalEndPoint, bool IsSecure);
