using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Gatehouse.Security.Authentication;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Gatehouse.Transport.Tls;

/// <summary>
/// TLS for the MQTT listeners: TLS 1.2 and 1.3 only, server certificate, and with a <see cref="ClientCertificateValidator"/>
/// mutual TLS: a client certificate is required and must validate against the configured CA (and CRL), else the
/// handshake fails before any MQTT byte is read.
/// </summary>
public static class TlsListenOptionsExtensions
{
    public static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);

    /// <summary>
    /// TLS on a raw MQTT listener (call before <c>UseConnectionHandler</c>). No ALPN is offered: MQTT clients that
    /// send ALPN (e.g. "mqtt") are served without it rather than refused over an HTTP protocol name.
    /// </summary>
    public static ListenOptions UseMqttTls(this ListenOptions listenOptions, ServerCertificate certificate,
        ClientCertificateValidator? clientCertificates = null)
        => listenOptions.UseHttps(CreateCallbackOptions(() => certificate, alpn: [], clientCertificates));

    /// <summary>As above, each handshake with the reloader's current certificate (reloaded without restart).</summary>
    public static ListenOptions UseMqttTls(this ListenOptions listenOptions, ReloadingServerCertificate certificates,
        ClientCertificateValidator? clientCertificates = null)
        => listenOptions.UseHttps(CreateCallbackOptions(() => certificates.Current, alpn: [], clientCertificates));

    /// <summary>TLS on an HTTP listener (the wss one): ALPN follows the listener's HTTP protocols.</summary>
    public static ListenOptions UseWebSocketTls(this ListenOptions listenOptions, ServerCertificate certificate,
        ClientCertificateValidator? clientCertificates = null)
        => listenOptions.UseHttps(CreateCallbackOptions(() => certificate, alpn: null, clientCertificates));

    /// <summary>As above, each handshake with the reloader's current certificate (reloaded without restart).</summary>
    public static ListenOptions UseWebSocketTls(this ListenOptions listenOptions, ReloadingServerCertificate certificates,
        ClientCertificateValidator? clientCertificates = null)
        => listenOptions.UseHttps(CreateCallbackOptions(() => certificates.Current, alpn: null, clientCertificates));

    /// <param name="certificate">Asked once per handshake, so a reloaded certificate applies to the next connection.</param>
    private static TlsHandshakeCallbackOptions CreateCallbackOptions(Func<ServerCertificate> certificate, List<SslApplicationProtocol>? alpn,
        ClientCertificateValidator? clientCertificates)
        => new()
        {
            HandshakeTimeout = HandshakeTimeout,
            OnConnection = _ => ValueTask.FromResult(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = certificate().Context,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                // mTLS (--tls-client-ca): required, and validated against the configured CA only, not the system store.
                ClientCertificateRequired = clientCertificates is not null,
                RemoteCertificateValidationCallback = clientCertificates is null
                    ? null
                    : (_, certificate, chain, _) => certificate is X509Certificate2 client && clientCertificates.Validate(client, chain, out var rejected) && rejected.Length == 0,
                CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
                // null: Kestrel fills in h2/http1.1 from the listener's protocols. Empty: no ALPN at all.
                ApplicationProtocols = alpn is null ? null : [.. alpn],
            }),
        };
}
