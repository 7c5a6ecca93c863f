using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace Gatehouse.Broker.Connections;

/// <summary>What a transport knows about an accepted connection.</summary>
/// <param name="Listener">Listener name for logs and limits: "tcp", "tls", "ws", "wss".</param>
public sealed record ConnectionInfo(
    string Listener,
    EndPoint? RemoteEndPoint,
    EndPoint? LocalEndPoint,
    bool IsSecure,
    X509Certificate2? ClientCertificate = null);
