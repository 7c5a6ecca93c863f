using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace Gatehouse.Broker.Connections;

/// <summary>
/// What a transport knows about an accepted connection. A value held inside the connection rather than an object of its
/// own: every connection has one for its whole life, and as an object it cost each a header and a reference (24 bytes).
/// </summary>
/// <param name="Listener">Listener name for logs and limits: "tcp", "tls", "ws", "wss".</param>
public readonly record struct ConnectionInfo(
    string Listener,
    EndPoint? RemoteEndPoint,
    EndPoint? LocalEndPoint,
    bool IsSecure,
    X509Certificate2? ClientCertificate = null);
