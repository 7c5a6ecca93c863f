using System.Net;
using System.Security.Cryptography.X509Certificates;
using Gatehouse.Protocol;

namespace Gatehouse.Security.Authentication;

/// <summary>What the broker knows about a CONNECT when it asks who the client is [MQTT-3.1.4-2]. A struct: one per CONNECT, and connect bursts should not feed the GC.</summary>
/// <param name="ClientIdAssigned">The client sent an empty id and the server assigned one: no binding rule applies.</param>
/// <param name="ClientCertificate">The client certificate, already chain-validated by the TLS listener when mTLS is on.</param>
/// <param name="RemoteAddress">The peer's address (null when the transport has none) and <paramref name="RemotePort"/> its
/// port: the connection's own values, so a CONNECT makes no endpoint object unless a refusal or an audit record needs one.</param>
/// <param name="LocalEndPoint">Where the connection arrived: the listener's endpoint, shared by its connections.</param>
/// <param name="Enhanced">The outcome of an MQTT 5 enhanced authentication exchange (section 4.12), when the CONNECT had a method.</param>
public readonly record struct ConnectAttempt(
    string ClientId,
    bool ClientIdAssigned,
    string? UserName,
    ReadOnlyMemory<byte>? Password,
    X509Certificate2? ClientCertificate,
    string Listener,
    IPAddress? RemoteAddress,
    int RemotePort,
    EndPoint? LocalEndPoint,
    EnhancedAuthResult? Enhanced = null)
{
    /// <summary>The peer as audit records show it ("address:port", "[v6]:port" or "unknown"); formatted on each call.</summary>
    public string RemoteEndPointText => RemoteAddress is null ? "unknown" : new IPEndPoint(RemoteAddress, RemotePort).ToString();

    /// <summary>Both ends of the connection are loopback addresses: the client runs on this machine.</summary>
    public bool IsLoopback => AnonymousPolicy.IsLoopback(LocalEndPoint) && AnonymousPolicy.IsLoopback(RemoteAddress);
}

/// <summary>Allow (with who the client is) or deny (with the CONNACK reason code). A struct, as <see cref="ConnectAttempt"/>.</summary>
public readonly record struct ConnectDecision(ClientPrincipal? Principal, ReasonCode ReasonCode, string Reason)
{
    public bool Allowed => Principal is not null;

    public static ConnectDecision Allow(ClientPrincipal principal) => new(principal, ReasonCode.Success, "");

    /// <param name="reasonCode">0x86 bad user name or password, 0x87 not authorized, 0x85 client id not valid, 0x8A banned.</param>
    public static ConnectDecision Deny(ReasonCode reasonCode, string reason) => new(null, reasonCode, reason);
}

/// <summary>Decides whether a CONNECT is accepted and as whom. Called by the broker before any session is touched.</summary>
public interface IConnectAuthenticator
{
    ConnectDecision Authenticate(ConnectAttempt attempt);
}
