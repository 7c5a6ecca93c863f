using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Gatehouse.Transport.Tls;

/// <summary>A server certificate with its private key and the intermediates sent along in the handshake.</summary>
public sealed class ServerCertificate
{
    private ServerCertificate(X509Certificate2 certificate, X509Certificate2Collection chain)
    {
        Certificate = certificate;
        Chain = chain;
        // offline: the intermediates come from the file; never fetch them from the network at start-up.
        Context = SslStreamCertificateContext.Create(certificate, chain, offline: true);
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>Further certificates found in the file (intermediates), sent after the leaf.</summary>
    public X509Certificate2Collection Chain { get; }

    public SslStreamCertificateContext Context { get; }

    /// <summary>
    /// Loads a PEM certificate (key from <paramref name="keyPath"/>, or from the same file when it is null) or a
    /// PKCS#12 (PFX) file. Which one is decided by the content, not the file name. Throws
    /// <see cref="CertificateLoadException"/> with a one-line reason.
    /// </summary>
    public static ServerCertificate Load(string certificatePath, string? keyPath = null, string? password = null)
    {
        if (!File.Exists(certificatePath))
            throw new CertificateLoadException($"certificate file not found: {certificatePath}");
        if (keyPath is not null && !File.Exists(keyPath))
            throw new CertificateLoadException($"key file not found: {keyPath}");

        try
        {
            return IsPem(certificatePath)
                ? LoadPem(certificatePath, keyPath, password)
                : LoadPkcs12(certificatePath, keyPath, password);
        }
        catch (CryptographicException ex)
        {
            throw new CertificateLoadException($"cannot load certificate {certificatePath}: {OneLine(ex.Message)}", ex);
        }
        catch (ArgumentException ex)
        {
            // E.g. "The provided key does not match the public key for this certificate."
            throw new CertificateLoadException($"cannot load certificate {certificatePath}: {OneLine(ex.Message)}", ex);
        }
        catch (IOException ex)
        {
            throw new CertificateLoadException($"cannot read certificate {certificatePath}: {OneLine(ex.Message)}", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new CertificateLoadException($"cannot read certificate {certificatePath}: {OneLine(ex.Message)}", ex);
        }
    }

    private static ServerCertificate LoadPem(string certificatePath, string? keyPath, string? password)
    {
        var certificate = string.IsNullOrEmpty(password)
            ? X509Certificate2.CreateFromPemFile(certificatePath, keyPath)
            : X509Certificate2.CreateFromEncryptedPemFile(certificatePath, password, keyPath);

        if (OperatingSystem.IsWindows())
        {
            // SChannel cannot use the ephemeral key of a PEM-loaded certificate; round-trip through PKCS#12.
            var exported = certificate.Export(X509ContentType.Pkcs12);
            certificate.Dispose();
            certificate = X509CertificateLoader.LoadPkcs12(exported, password: null);
        }

        var all = new X509Certificate2Collection();
        all.ImportFromPemFile(certificatePath);
        return Create(certificate, all);
    }

    private static ServerCertificate LoadPkcs12(string certificatePath, string? keyPath, string? password)
    {
        if (keyPath is not null)
            throw new CertificateLoadException($"{certificatePath} is not a PEM certificate; a PFX file carries its own key, so leave out the key file");

        var certificate = X509CertificateLoader.LoadPkcs12FromFile(certificatePath, password);
        var all = X509CertificateLoader.LoadPkcs12CollectionFromFile(certificatePath, password);
        return Create(certificate, all);
    }

    private static ServerCertificate Create(X509Certificate2 certificate, X509Certificate2Collection allInFile)
    {
        if (!certificate.HasPrivateKey)
            throw new CertificateLoadException($"certificate {certificate.Subject} has no private key");

        var chain = new X509Certificate2Collection();
        foreach (var other in allInFile)
        {
            if (other.Thumbprint != certificate.Thumbprint)
                chain.Add(other);
        }
        return new ServerCertificate(certificate, chain);
    }

    private static bool IsPem(string path)
    {
        Span<byte> head = stackalloc byte[4096];
        using var stream = File.OpenRead(path);
        var read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        return head[..read].IndexOf("-----BEGIN "u8) >= 0;
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}

/// <summary>A certificate or key could not be loaded; the message is one line meant for the operator.</summary>
public sealed class CertificateLoadException : Exception
{
    public CertificateLoadException(string message) : base(message) { }

    public CertificateLoadException(string message, Exception innerException) : base(message, innerException) { }

    public CertificateLoadException() { }
}
