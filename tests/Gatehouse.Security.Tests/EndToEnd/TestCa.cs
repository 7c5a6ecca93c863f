using System.Net;
using System.Numerics;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;

namespace Gatehouse.Security.Tests.EndToEnd;

/// <summary>A throw-away CA for the TLS tests: server and client certificates, CRLs, and a raw TLS MQTT client.</summary>
internal sealed class TestCa : IDisposable
{
    private readonly X509Certificate2 _ca;
    private BigInteger _crlNumber = BigInteger.One;

    public TestCa(string subject = "CN=Gatehouse Reload Test CA")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        _ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    public string CertificatePem => _ca.ExportCertificatePem();

    /// <summary>A certificate with its key (for SslStream) plus both as PEM text.</summary>
    public (X509Certificate2 Certificate, string CertPem, string KeyPem) Issue(string subject, bool server)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_ca, true, false));
        if (server)
        {
            var san = new SubjectAlternativeNameBuilder();
            san.AddDnsName("localhost");
            san.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(san.Build());
        }
        var serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7F;
        using var issued = request.Create(_ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(20), serial);
        var withKey = issued.CopyWithPrivateKey(key);
        // Through PKCS#12 so the key is usable by SslStream on every platform.
        var usable = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        return (usable, issued.ExportCertificatePem() + "\n", key.ExportPkcs8PrivateKeyPem() + "\n");
    }

    /// <summary>A DER CRL signed by the CA revoking <paramref name="revoked"/> (none: an empty, valid CRL).</summary>
    public byte[] Crl(params X509Certificate2[] revoked)
    {
        var builder = new CertificateRevocationListBuilder();
        foreach (var certificate in revoked) builder.AddEntry(certificate, DateTimeOffset.UtcNow.AddMinutes(-1));
        var number = _crlNumber;
        _crlNumber += 1;
        return builder.Build(_ca, number, DateTimeOffset.UtcNow.AddDays(7), HashAlgorithmName.SHA256);
    }

    public void Dispose() => _ca.Dispose();

    /// <summary>The server's certificate chains to this CA (and only to it).</summary>
    private bool Trusts(X509Certificate? certificate)
    {
        if (certificate is null) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(_ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = new X509Certificate2(certificate);
        return chain.Build(leaf);
    }

    /// <summary>The certificate the server presents in a new TLS handshake on <paramref name="port"/>.</summary>
    public async Task<X509Certificate2> ServerCertificateAsync(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        X509Certificate2? seen = null;
        await using var tls = new SslStream(tcp.GetStream(), false, (_, certificate, _, _) =>
        {
            seen = certificate is null ? null : new X509Certificate2(certificate);
            return Trusts(certificate);
        });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" }, cts.Token);
        return seen!;
    }

    /// <summary>
    /// TLS handshake with <paramref name="clientCertificate"/>, then an MQTT 5 CONNECT: true when CONNACK 0x00 comes
    /// back, false when the server refuses the certificate (handshake failure or connection closed).
    /// </summary>
    public async Task<bool> ConnectsAsync(int port, X509Certificate2 clientCertificate, string clientId)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        await using var tls = new SslStream(tcp.GetStream(), false, (_, certificate, _, _) => Trusts(certificate));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                ClientCertificates = [clientCertificate],
            }, cts.Token);
            var connect = new ConnectPacket { ProtocolVersion = ProtocolVersion.V500, ClientId = clientId, CleanStart = true, KeepAliveSeconds = 30 };
            await tls.WriteAsync(MqttTestClient.Encode(connect, ProtocolVersion.V500), cts.Token);
            var header = new byte[4];
            var read = 0;
            while (read < header.Length)
            {
                var n = await tls.ReadAsync(header.AsMemory(read), cts.Token);
                if (n == 0) return false;
                read += n;
            }
            // CONNACK: type 0x20, remaining length, acknowledge flags, reason code.
            return header[0] == 0x20 && header[3] == 0x00;
        }
        catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException or SocketException)
        {
            return false;
        }
    }
}
