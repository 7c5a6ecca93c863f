using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Gatehouse.Security.Identities;

/// <summary>
/// What the server keeps for SCRAM-SHA-256 (RFC 5802 section 3, RFC 7677): salt, iteration count, StoredKey and
/// ServerKey, never the password nor SaltedPassword. Stored as <c>scram-sha-256$iterations$salt$storedKey$serverKey</c>
/// (base64). The salt is independent of the PBKDF2 password hash's salt: that hash <em>is</em> a SaltedPassword, and
/// sharing the salt would let anyone who reads it authenticate over SCRAM.
/// </summary>
public sealed record ScramCredential(int Iterations, byte[] Salt, byte[] StoredKey, byte[] ServerKey)
{
    public const string Scheme = "scram-sha-256";
    private const int SaltBytes = 16;

    /// <summary>Derives the credential from a password (used as its UTF-8 bytes; no SASLprep).</summary>
    public static ScramCredential Derive(string password, int iterations)
    {
        if (iterations < PasswordHasher.MinIterations) throw new ArgumentOutOfRangeException(nameof(iterations), $"at least {PasswordHasher.MinIterations} iterations");
        return Derive(Encoding.UTF8.GetBytes(password), RandomNumberGenerator.GetBytes(SaltBytes), iterations);
    }

    public static ScramCredential Derive(ReadOnlySpan<byte> password, byte[] salt, int iterations)
    {
        // Hi(password, salt, i) is PBKDF2 with HMAC-SHA-256 and one output block.
        var salted = Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashAlgorithmName.SHA256, 32);
        try
        {
            var clientKey = HMACSHA256.HashData(salted, "Client Key"u8);
            var storedKey = SHA256.HashData(clientKey);
            var serverKey = HMACSHA256.HashData(salted, "Server Key"u8);
            CryptographicOperations.ZeroMemory(clientKey);
            return new ScramCredential(iterations, salt, storedKey, serverKey);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(salted);
        }
    }

    public string Encode() => string.Join('$', Scheme, Iterations.ToString(CultureInfo.InvariantCulture),
        Convert.ToBase64String(Salt), Convert.ToBase64String(StoredKey), Convert.ToBase64String(ServerKey));

    public static ScramCredential? TryParse(string? encoded)
    {
        if (encoded is null) return null;
        var parts = encoded.Split('$');
        if (parts.Length != 5 || parts[0] != Scheme) return null;
        if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var iterations) || iterations < 1) return null;
        try
        {
            var credential = new ScramCredential(iterations, Convert.FromBase64String(parts[2]),
                Convert.FromBase64String(parts[3]), Convert.FromBase64String(parts[4]));
            return credential.Salt.Length > 0 && credential.StoredKey.Length == 32 && credential.ServerKey.Length == 32 ? credential : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
