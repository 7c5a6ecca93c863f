using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Gatehouse.Security.Authentication;

namespace Gatehouse.Security.Tests.Unit;

public sealed class JwtValidatorTests
{
    private static readonly byte[] Secret = Encoding.UTF8.GetBytes("0123456789abcdef0123456789abcdef-secret");
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    internal static string B64(byte[] bytes) => Base64UrlEncode(bytes);

    private static string Base64UrlEncode(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    internal static string Token(string alg, object payload, Func<byte[], byte[]> sign)
    {
        var header = Base64UrlEncode(JsonSerializer.SerializeToUtf8Bytes(new { alg, typ = "JWT" }));
        var body = Base64UrlEncode(JsonSerializer.SerializeToUtf8Bytes(payload));
        var signature = sign(Encoding.ASCII.GetBytes(header + "." + body));
        return header + "." + body + "." + Base64UrlEncode(signature);
    }

    internal static string Hs256(object payload, byte[]? secret = null) => Token("HS256", payload, data => HMACSHA256.HashData(secret ?? Secret, data));

    private static JwtValidator Validator(JwtKey key, string? issuer = null, string? audience = null) =>
        new(key, issuer, audience, TimeSpan.FromSeconds(30), new FixedTime(Now));

    private static object Claims(long? exp = null, long? nbf = null, string sub = "dev1", string? iss = null, object? aud = null) =>
        new Dictionary<string, object?>
        {
            ["sub"] = sub,
            ["exp"] = exp ?? Now.ToUnixTimeSeconds() + 600,
            ["nbf"] = nbf,
            ["iss"] = iss,
            ["aud"] = aud,
        }.Where(kv => kv.Value is not null).ToDictionary(kv => kv.Key, kv => kv.Value);

    [Fact]
    public void Valid_hs256_token_yields_its_subject()
    {
        Assert.True(Validator(JwtKey.Hmac(Secret)).TryValidate(Hs256(Claims()), out var claims, out var error), error);
        Assert.Equal("dev1", claims!.Subject);
    }

    [Fact]
    public void Expired_token_is_refused()
    {
        Assert.False(Validator(JwtKey.Hmac(Secret)).TryValidate(Hs256(Claims(exp: Now.ToUnixTimeSeconds() - 3600)), out _, out var error));
        Assert.Equal("token expired", error);
    }

    [Fact]
    public void Token_within_the_clock_skew_of_exp_is_accepted()
    {
        Assert.True(Validator(JwtKey.Hmac(Secret)).TryValidate(Hs256(Claims(exp: Now.ToUnixTimeSeconds() - 10)), out _, out _));
    }

    [Fact]
    public void Not_yet_valid_token_is_refused()
    {
        Assert.False(Validator(JwtKey.Hmac(Secret)).TryValidate(Hs256(Claims(nbf: Now.ToUnixTimeSeconds() + 3600)), out _, out var error));
        Assert.Equal("token not yet valid", error);
    }

    [Fact]
    public void Token_without_exp_is_refused()
    {
        var token = Hs256(new { sub = "dev1" });
        Assert.False(Validator(JwtKey.Hmac(Secret)).TryValidate(token, out _, out var error));
        Assert.Equal("token has no exp", error);
    }

    [Fact]
    public void Wrong_signature_is_refused()
    {
        var token = Hs256(Claims(), Encoding.UTF8.GetBytes("another-secret-another-secret-another"));
        Assert.False(Validator(JwtKey.Hmac(Secret)).TryValidate(token, out _, out var error));
        Assert.Equal("bad signature", error);
    }

    [Fact]
    public void Tampered_payload_is_refused()
    {
        var parts = Hs256(Claims()).Split('.');
        var forged = Base64UrlEncode(JsonSerializer.SerializeToUtf8Bytes(Claims(sub: "admin")));
        Assert.False(Validator(JwtKey.Hmac(Secret)).TryValidate(parts[0] + "." + forged + "." + parts[2], out _, out _));
    }

    [Theory]
    [InlineData("none")]
    [InlineData("None")]
    [InlineData("HS512")]
    [InlineData("RS256")]
    public void Algorithms_other_than_the_keys_are_refused(string alg)
    {
        var token = Token(alg, Claims(), _ => []);
        Assert.False(Validator(JwtKey.Hmac(Secret)).TryValidate(token, out _, out var error));
        Assert.Contains("not accepted", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Alg_confusion_hs256_signed_with_the_rsa_public_key_is_refused()
    {
        using var rsa = RSA.Create(2048);
        var publicPem = Encoding.ASCII.GetBytes(rsa.ExportSubjectPublicKeyInfoPem());
        var token = Hs256(Claims(), publicPem);
        using var key = JwtKey.FromRsa(RSA.Create(rsa.ExportParameters(false)));
        Assert.False(Validator(key).TryValidate(token, out _, out var error));
        Assert.Contains("HS256 not accepted", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Rs256_and_es256_tokens_verify_with_their_public_keys()
    {
        using var rsa = RSA.Create(2048);
        var rsToken = Token("RS256", Claims(), d => rsa.SignData(d, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        using var rsKey = JwtKey.FromRsa(RSA.Create(rsa.ExportParameters(false)));
        Assert.True(Validator(rsKey).TryValidate(rsToken, out _, out var rsError), rsError);

        using var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var esToken = Token("ES256", Claims(), d => ec.SignData(d, HashAlgorithmName.SHA256));
        using var esKey = JwtKey.FromEcDsa(ECDsa.Create(ec.ExportParameters(false)));
        Assert.True(Validator(esKey).TryValidate(esToken, out _, out var esError), esError);

        using var otherEc = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var forged = Token("ES256", Claims(), d => otherEc.SignData(d, HashAlgorithmName.SHA256));
        Assert.False(Validator(esKey).TryValidate(forged, out _, out _));
    }

    [Fact]
    public void Issuer_and_audience_are_checked_when_configured()
    {
        var validator = Validator(JwtKey.Hmac(Secret), issuer: "https://issuer", audience: "gatehouse");
        Assert.True(validator.TryValidate(Hs256(Claims(iss: "https://issuer", aud: new[] { "x", "gatehouse" })), out _, out var error), error);
        Assert.True(validator.TryValidate(Hs256(Claims(iss: "https://issuer", aud: "gatehouse")), out _, out _));
        Assert.False(validator.TryValidate(Hs256(Claims(iss: "https://evil", aud: "gatehouse")), out _, out var wrongIssuer));
        Assert.Equal("wrong issuer", wrongIssuer);
        Assert.False(validator.TryValidate(Hs256(Claims(iss: "https://issuer", aud: "other")), out _, out var wrongAudience));
        Assert.Equal("wrong audience", wrongAudience);
        Assert.False(validator.TryValidate(Hs256(Claims()), out _, out _));
    }

    [Theory]
    [InlineData("")]
    [InlineData("a.b")]
    [InlineData("a.b.c.d")]
    [InlineData("eyJ!!.eyJ.sig")]
    public void Malformed_tokens_are_refused(string token)
    {
        Assert.False(Validator(JwtKey.Hmac(Secret)).TryValidate(token, out _, out _));
    }

    [Fact]
    public void Short_hmac_secrets_are_refused()
    {
        Assert.Throws<ArgumentException>(() => JwtKey.Hmac(new byte[16]));
    }

    internal sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
