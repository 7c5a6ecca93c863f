using System.Buffers.Text;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace Gatehouse.Security.Authentication;

/// <summary>The key that verifies tokens. Its type fixes the one algorithm accepted, so "none" and alg confusion
/// (an HS256 token "signed" with an RSA public key as the secret) are refused.</summary>
public sealed class JwtKey : IDisposable
{
    private JwtKey(string algorithm, byte[]? secret, RSA? rsa, ECDsa? ecdsa)
    {
        Algorithm = algorithm;
        Secret = secret;
        Rsa = rsa;
        EcDsa = ecdsa;
    }

    /// <summary>HS256, RS256 or ES256.</summary>
    public string Algorithm { get; }
    internal byte[]? Secret { get; }
    internal RSA? Rsa { get; }
    internal ECDsa? EcDsa { get; }

    public static JwtKey Hmac(byte[] secret)
    {
        if (secret.Length < 32) throw new ArgumentException("an HS256 secret needs at least 32 bytes");
        return new JwtKey("HS256", secret, null, null);
    }

    public static JwtKey FromRsa(RSA rsa) => new("RS256", null, rsa, null);

    public static JwtKey FromEcDsa(ECDsa ecdsa)
    {
        if (ecdsa.KeySize != 256) throw new ArgumentException("ES256 needs a P-256 key");
        return new JwtKey("ES256", null, null, ecdsa);
    }

    /// <summary>
    /// A PEM public key or certificate (RSA → RS256, EC P-256 → ES256), otherwise the file's bytes (without a trailing
    /// newline) as an HS256 secret. Throws <see cref="ArgumentException"/> with a one-line reason.
    /// </summary>
    public static JwtKey Load(string path)
    {
        if (!File.Exists(path)) throw new ArgumentException($"JWT key file not found: {path}");
        var bytes = File.ReadAllBytes(path);
        var text = Encoding.UTF8.GetString(bytes);
        if (!text.Contains("-----BEGIN ", StringComparison.Ordinal))
        {
            return Hmac(Encoding.UTF8.GetBytes(text.TrimEnd('\r', '\n')));
        }
        try
        {
            if (text.Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
            {
                using var certificate = X509Certificate2.CreateFromPem(text);
                if (certificate.GetRSAPublicKey() is { } certRsa) return FromRsa(certRsa);
                if (certificate.GetECDsaPublicKey() is { } certEc) return FromEcDsa(certEc);
                throw new ArgumentException($"{path}: the certificate has neither an RSA nor an EC key");
            }
            if (text.Contains("PRIVATE KEY", StringComparison.Ordinal))
                throw new ArgumentException($"{path} holds a private key; give the broker only the public key");
            try
            {
                var rsa = RSA.Create();
                rsa.ImportFromPem(text);
                return FromRsa(rsa);
            }
            catch (CryptographicException)
            {
                var ec = ECDsa.Create();
                ec.ImportFromPem(text);
                return FromEcDsa(ec);
            }
        }
        catch (CryptographicException ex)
        {
            throw new ArgumentException($"cannot read JWT key {path}: {ex.Message.ReplaceLineEndings(" ")}", ex);
        }
    }

    public void Dispose()
    {
        Rsa?.Dispose();
        EcDsa?.Dispose();
    }
}

/// <summary>The claims Gatehouse uses from a valid token.</summary>
public sealed record JwtClaims(string Subject, IReadOnlyList<string> Groups, DateTimeOffset ExpiresAt);

/// <summary>
/// Verifies compact JWS tokens (RFC 7515/7519) passed as the MQTT password: signature with the configured key and its
/// algorithm only, "exp" required, "nbf" when present, "iss"/"aud" when configured, "sub" = identity name.
/// </summary>
public sealed class JwtValidator(JwtKey key, string? issuer, string? audience, TimeSpan clockSkew, TimeProvider time)
{
    /// <summary>Tolerance for exp/nbf: a token is refused, and a connection it opened is closed, once exp + this has passed.</summary>
    public TimeSpan ClockSkew => clockSkew;

    /// <summary>Whether <paramref name="password"/> has the shape of a compact JWS (three base64url parts, header first).</summary>
    public static bool LooksLikeJwt(ReadOnlySpan<byte> password) =>
        password.Length > 16 && password.Count((byte)'.') == 2 && password.StartsWith("eyJ"u8);

    public bool TryValidate(string token, out JwtClaims? claims, out string error)
    {
        claims = null;
        var parts = token.Split('.');
        if (parts.Length != 3) { error = "not a compact JWS"; return false; }
        if (!TryDecode(parts[0], out var headerBytes) || !TryDecode(parts[1], out var payloadBytes) || !TryDecode(parts[2], out var signature))
        {
            error = "malformed base64url";
            return false;
        }
        try
        {
            using var header = JsonDocument.Parse(headerBytes);
            if (header.RootElement.ValueKind != JsonValueKind.Object
                || !header.RootElement.TryGetProperty("alg", out var alg) || alg.ValueKind != JsonValueKind.String)
            {
                error = "header has no alg";
                return false;
            }
            // Only the algorithm of the configured key: refuses "none" and algorithm confusion.
            if (!string.Equals(alg.GetString(), key.Algorithm, StringComparison.Ordinal))
            {
                error = $"algorithm {alg.GetString()} not accepted (key is {key.Algorithm})";
                return false;
            }
            if (header.RootElement.TryGetProperty("crit", out _))
            {
                error = "critical header extensions are not supported";
                return false;
            }
            var signed = Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]);
            if (!VerifySignature(signed, signature))
            {
                error = "bad signature";
                return false;
            }
            using var payload = JsonDocument.Parse(payloadBytes);
            return TryCheckClaims(payload.RootElement, out claims, out error);
        }
        catch (JsonException)
        {
            error = "malformed JSON";
            return false;
        }
    }

    private bool VerifySignature(byte[] signed, byte[] signature)
    {
        switch (key.Algorithm)
        {
            case "HS256":
                var expected = HMACSHA256.HashData(key.Secret!, signed);
                return CryptographicOperations.FixedTimeEquals(expected, signature);
            case "RS256":
                return key.Rsa!.VerifyData(signed, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            case "ES256":
                // JWS ES256 signatures are r||s, 64 bytes (IEEE P1363).
                return signature.Length == 64 && key.EcDsa!.VerifyData(signed, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
            default:
                return false;
        }
    }

    private bool TryCheckClaims(JsonElement payload, out JwtClaims? claims, out string error)
    {
        claims = null;
        if (payload.ValueKind != JsonValueKind.Object) { error = "payload is not an object"; return false; }
        var now = time.GetUtcNow();
        if (!payload.TryGetProperty("exp", out var exp) || exp.ValueKind != JsonValueKind.Number || !exp.TryGetDouble(out var expSeconds))
        {
            error = "token has no exp";
            return false;
        }
        var expiresAt = DateTimeOffset.FromUnixTimeMilliseconds((long)(expSeconds * 1000));
        if (now > expiresAt + clockSkew) { error = "token expired"; return false; }
        if (payload.TryGetProperty("nbf", out var nbf))
        {
            if (nbf.ValueKind != JsonValueKind.Number || !nbf.TryGetDouble(out var nbfSeconds)) { error = "malformed nbf"; return false; }
            if (now + clockSkew < DateTimeOffset.FromUnixTimeMilliseconds((long)(nbfSeconds * 1000))) { error = "token not yet valid"; return false; }
        }
        if (issuer is not null && (!payload.TryGetProperty("iss", out var iss) || iss.ValueKind != JsonValueKind.String || iss.GetString() != issuer))
        {
            error = "wrong issuer";
            return false;
        }
        if (audience is not null && !HasAudience(payload, audience)) { error = "wrong audience"; return false; }
        if (!payload.TryGetProperty("sub", out var sub) || sub.ValueKind != JsonValueKind.String || sub.GetString() is not { } subject
            || !Identities.Identity.IsValidName(subject))
        {
            error = "token has no valid sub";
            return false;
        }
        var groups = new List<string>();
        if (payload.TryGetProperty("groups", out var g) && g.ValueKind == JsonValueKind.Array)
        {
            groups.AddRange(g.EnumerateArray().Where(e => e.ValueKind == JsonValueKind.String).Select(e => e.GetString()!));
        }
        claims = new JwtClaims(subject, groups, expiresAt);
        error = "";
        return true;
    }

    private static bool HasAudience(JsonElement payload, string audience)
    {
        if (!payload.TryGetProperty("aud", out var aud)) return false;
        return aud.ValueKind switch
        {
            JsonValueKind.String => aud.GetString() == audience,
            JsonValueKind.Array => aud.EnumerateArray().Any(a => a.ValueKind == JsonValueKind.String && a.GetString() == audience),
            _ => false,
        };
    }

    private static bool TryDecode(string part, out byte[] bytes)
    {
        bytes = [];
        if (!Base64Url.IsValid(part)) return false;
        try
        {
            bytes = Base64Url.DecodeFromChars(part);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
