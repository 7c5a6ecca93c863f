using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Gatehouse.Security.Authentication;

/// <summary>
/// mTLS: validates a client certificate chain against the configured CA file only (X509Chain with CustomTrustStore,
/// no system roots, no downloads), requires it to be usable for client authentication, and checks it against an
/// optional CRL file (PEM or DER, signature verified with the issuing CA). The CRL is re-read when its file changes
/// (checked at most once a second, on the next handshake), so a revocation needs no restart.
/// </summary>
public sealed class ClientCertificateValidator
{
    private static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");
    private readonly X509Certificate2Collection _authorities;
    private readonly string? _crlPath;
    private readonly Lock _lock = new();
    private HashSet<string> _revoked = new(StringComparer.Ordinal);
    private (DateTime Modified, long Length) _crlStamp;
    private long _nextCrlCheck;

    private ClientCertificateValidator(X509Certificate2Collection authorities, string? crlPath)
    {
        _authorities = authorities;
        _crlPath = crlPath;
        if (crlPath is not null) ReloadCrl(throwOnError: true);
    }

    public int RevokedCount { get { lock (_lock) return _revoked.Count; } }

    /// <summary>Loads the CA certificates (PEM, one or more) and the CRL. Throws <see cref="ArgumentException"/> with a one-line reason.</summary>
    public static ClientCertificateValidator Load(string caFile, string? crlFile)
    {
        if (!File.Exists(caFile)) throw new ArgumentException($"client CA file not found: {caFile}");
        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPemFile(caFile);
        }
        catch (CryptographicException ex)
        {
            throw new ArgumentException($"cannot read client CA file {caFile}: {ex.Message.ReplaceLineEndings(" ")}", ex);
        }
        if (authorities.Count == 0) throw new ArgumentException($"client CA file {caFile} holds no PEM certificate");
        if (crlFile is not null && !File.Exists(crlFile)) throw new ArgumentException($"CRL file not found: {crlFile}");
        return new ClientCertificateValidator(authorities, crlFile);
    }

    /// <summary>Whether <paramref name="certificate"/> chains to a configured CA, is valid now, and is not revoked.</summary>
    public bool Validate(X509Certificate2 certificate, X509Chain? presented, out string error)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        chain.ChainPolicy.ApplicationPolicy.Add(ClientAuthentication);
        if (presented is not null)
        {
            foreach (var element in presented.ChainElements)
            {
                if (element.Certificate.Thumbprint != certificate.Thumbprint) chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }
        if (!chain.Build(certificate))
        {
            error = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
            if (error.Length == 0) error = "chain does not build to a configured CA";
            return false;
        }
        if (_crlPath is not null)
        {
            MaybeReloadCrl();
            HashSet<string> revoked;
            lock (_lock) revoked = _revoked;
            foreach (var element in chain.ChainElements)
            {
                if (revoked.Contains(Key(element.Certificate.IssuerName.RawData, element.Certificate.SerialNumberBytes.Span)))
                {
                    error = $"certificate {element.Certificate.Subject} (serial {element.Certificate.SerialNumber}) is revoked";
                    return false;
                }
            }
        }
        error = "";
        return true;
    }

    private void MaybeReloadCrl()
    {
        var now = Environment.TickCount64;
        if (now < Interlocked.Read(ref _nextCrlCheck)) return;
        Interlocked.Exchange(ref _nextCrlCheck, now + 1000);
        ReloadCrl(throwOnError: false);
    }

    private void ReloadCrl(bool throwOnError)
    {
        var info = new FileInfo(_crlPath!);
        var stamp = info.Exists ? (info.LastWriteTimeUtc, info.Length) : (DateTime.MinValue, -1L);
        lock (_lock)
        {
            if (!throwOnError && stamp == _crlStamp) return;
            try
            {
                _revoked = ParseCrl(File.ReadAllBytes(_crlPath!));
                _crlStamp = stamp;
            }
            catch (Exception ex) when (ex is IOException or CryptographicException or AsnContentException or ArgumentException)
            {
                // Keep the previous list: a half-written file must not un-revoke anything.
                if (throwOnError) throw new ArgumentException($"cannot read CRL {_crlPath}: {ex.Message.ReplaceLineEndings(" ")}", ex);
            }
        }
    }

    /// <summary>Reads a CRL (RFC 5280 section 5), verifies its signature with a configured CA and returns issuer+serial keys.</summary>
    internal HashSet<string> ParseCrl(byte[] data)
    {
        if (data.AsSpan().IndexOf("-----BEGIN X509 CRL-----"u8) >= 0)
        {
            var text = System.Text.Encoding.ASCII.GetString(data);
            var fields = PemEncoding.Find(text);
            data = Convert.FromBase64String(text[fields.Base64Data]);
        }
        var outer = new AsnReader(data, AsnEncodingRules.DER).ReadSequence();
        var tbsBytes = outer.PeekEncodedValue().ToArray();
        var tbs = outer.ReadSequence();
        var algorithm = outer.ReadSequence().ReadObjectIdentifier();
        var signature = outer.ReadBitString(out _);

        if (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Integer)) tbs.ReadInteger(); // version
        tbs.ReadSequence(); // signature algorithm
        var issuer = tbs.PeekEncodedValue().ToArray();
        tbs.ReadEncodedValue();
        var authority = _authorities.FirstOrDefault(a => a.SubjectName.RawData.AsSpan().SequenceEqual(issuer))
            ?? throw new CryptographicException("the CRL is not issued by a configured CA");
        if (!VerifySignature(authority, algorithm, tbsBytes, signature))
            throw new CryptographicException("the CRL signature does not verify");
        ReadTime(tbs); // thisUpdate
        if (tbs.HasData && (tbs.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime) || tbs.PeekTag().HasSameClassAndValue(Asn1Tag.GeneralizedTime)))
            ReadTime(tbs); // nextUpdate
        var revoked = new HashSet<string>(StringComparer.Ordinal);
        if (tbs.HasData && tbs.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
        {
            var entries = tbs.ReadSequence();
            while (entries.HasData)
            {
                var entry = entries.ReadSequence();
                var serial = entry.ReadIntegerBytes().ToArray();
                revoked.Add(Key(issuer, serial));
            }
        }
        return revoked;
    }

    private static void ReadTime(AsnReader reader)
    {
        if (reader.PeekTag().HasSameClassAndValue(Asn1Tag.UtcTime)) reader.ReadUtcTime();
        else reader.ReadGeneralizedTime();
    }

    private static bool VerifySignature(X509Certificate2 authority, string algorithm, byte[] data, byte[] signature)
    {
        var hash = algorithm switch
        {
            "1.2.840.113549.1.1.11" or "1.2.840.10045.4.3.2" => HashAlgorithmName.SHA256,
            "1.2.840.113549.1.1.12" or "1.2.840.10045.4.3.3" => HashAlgorithmName.SHA384,
            "1.2.840.113549.1.1.13" or "1.2.840.10045.4.3.4" => HashAlgorithmName.SHA512,
            _ => throw new CryptographicException($"unsupported CRL signature algorithm {algorithm}"),
        };
        if (authority.GetRSAPublicKey() is { } rsa)
        {
            using (rsa) return rsa.VerifyData(data, signature, hash, RSASignaturePadding.Pkcs1);
        }
        if (authority.GetECDsaPublicKey() is { } ecdsa)
        {
            using (ecdsa) return ecdsa.VerifyData(data, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
        }
        return false;
    }

    /// <summary>Issuer name (DER) + serial number, normalized (leading zero bytes dropped).</summary>
    private static string Key(ReadOnlySpan<byte> issuer, ReadOnlySpan<byte> serial)
    {
        var value = new BigInteger(serial, isUnsigned: false, isBigEndian: true);
        return Convert.ToHexString(issuer) + ":" + value.ToString("X", System.Globalization.CultureInfo.InvariantCulture);
    }
}
