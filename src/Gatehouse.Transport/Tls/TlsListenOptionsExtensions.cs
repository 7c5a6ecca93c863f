using System.Net.Security;
using System.Security.Authentication;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Gatehouse.Transport.Tls;

/// <summary>TLS for the MQTT listeners: TLS 1.2 and 1.3 only, server certificate, no client certificate yet.</summary>
public static class TlsListenOptionsExtensions
{
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// TLS on a raw MQTT listener (call before <c>UseConnectionHandler</c>). No ALPN is offered: MQTT clients that
    /// send ALPN (e.g. "mqtt") are served without it rather than refused over an HTTP protocol name.
    /// </summary>
    public static ListenOptions UseMqttTls(this ListenOptions listenOptions, ServerCertificate certificate)
        => listenOptions.UseHttps(CreateCallbackOptions(certificate, alpn: []));

    /// <summary>TLS on an HTTP listener (the wss one): ALPN follows the listener's HTTP protocols.</summary>
    public static ListenOptions UseWebSocketTls(this ListenOptions listenOptions, ServerCertificate certificate)
        => listenOptions.UseHttps(CreateCallbackOptions(certificate, alpn: null));

    private static TlsHandshakeCallbackOptions CreateCallbackOptions(ServerCertificate certificate, List<SslApplicationProtocol>? alpn)
        => new()
        {
            HandshakeTimeout = HandshakeTimeout,
            OnConnection = _ => ValueTask.FromResult(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = certificate.Context,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                // Client certificates arrive with the security issue; ConnectionInfo already carries one when present.
                ClientCertificateRequired = false,
                CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
                // null: Kestrel fills in h2/http1.1 from the listener's protocols. Empty: no ALPN at all.
                ApplicationProtocols = alpn is null ? null : [.. alpn],
            }),
        };
}
