using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Gatehouse.Host.Tests.Infrastructure;

/// <summary>
/// A self-signed server certificate for localhost/127.0.0.1, written to a temporary directory as a PEM certificate,
/// a PEM key, a combined PEM (certificate then key) and a password-protected PFX.
/// </summary>
public sealed class TestCertificate : IDisposable
{
    public const string PfxPassword = "test-pfx-password";

    private static readonly Lazy<TestCertificate> s_shared = new(() => Create());

    private TestCertificate(string directory, X509Certificate2 certificate)
    {
        Directory = directory;
        Certificate = certificate;
    }

    /// <summary>One certificate for the whole test run (generation takes a moment).</summary>
    public static TestCertificate Shared => s_shared.Value;

    public string Directory { get; }

    public X509Certificate2 Certificate { get; }

    public string CertificatePem => Path.Combine(Directory, "server.crt");

    public string KeyPem => Path.Combine(Directory, "server.key");

    public string CombinedPem => Path.Combine(Directory, "server-combined.pem");

    public string Pfx => Path.Combine(Directory, "server.pfx");

    /// <summary>A PEM certificate without any private key.</summary>
    public string CertificateOnlyPem => CertificatePem;

    public static TestCertificate Create(string subject = "CN=localhost")
    {
        var directory = Path.Combine(Path.GetTempPath(), "gatehouse-host-tests", "certs-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());

        var now = DateTimeOffset.UtcNow;
        var certificate = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
        var result = new TestCertificate(directory, certificate);

        var certificatePem = certificate.ExportCertificatePem() + "\n";
        var keyPem = key.ExportPkcs8PrivateKeyPem() + "\n";
        File.WriteAllText(result.CertificatePem, certificatePem);
        File.WriteAllText(result.KeyPem, keyPem);
        File.WriteAllText(result.CombinedPem, certificatePem + keyPem);
        File.WriteAllBytes(result.Pfx, certificate.Export(X509ContentType.Pkcs12, PfxPassword));
        return result;
    }

    /// <summary>Accepts exactly this certificate (it is self-signed, so chain validation would fail).</summary>
    public bool Validate(X509Certificate? presented)
        => presented is not null && presented.GetCertHashString() == Certificate.GetCertHashString();

    public void Dispose()
    {
        Certificate.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}
