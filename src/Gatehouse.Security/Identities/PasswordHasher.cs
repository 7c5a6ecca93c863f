using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Gatehouse.Security.Identities;

/// <summary>
/// Salted PBKDF2-SHA256 password hashes, stored self-describing as <c>pbkdf2-sha256$iterations$salt$hash</c> (salt and
/// hash in base64), so the cost can be raised for new hashes while old ones still verify.
/// </summary>
public static class PasswordHasher
{
    public const string Scheme = "pbkdf2-sha256";
    /// <summary>OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.</summary>
    public const int DefaultIterations = 600_000;
    public const int MinIterations = 1_000;
    private const int SaltBytes = 16;
    private const int HashBytes = 32;

    public static string Hash(string password, int iterations = DefaultIterations)
    {
        if (iterations < MinIterations) throw new ArgumentOutOfRangeException(nameof(iterations), $"at least {MinIterations} iterations");
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, HashBytes);
        return string.Join('$', Scheme, iterations.ToString(CultureInfo.InvariantCulture), Convert.ToBase64String(salt), Convert.ToBase64String(hash));
    }

    /// <summary>True when <paramref name="password"/> matches <paramref name="encoded"/>; false for a wrong password or a malformed hash.</summary>
    public static bool Verify(ReadOnlySpan<byte> password, string encoded)
    {
        if (!TryParse(encoded, out var iterations, out var salt, out var expected)) return false;
        var actual = Rfc2898DeriveBytes.Pbkdf2(password, salt, iterations, HashAlgorithmName.SHA256, expected.Length);
        // Constant time: the comparison does not stop at the first differing byte.
        return CryptographicOperations.FixedTimeEquals(actual, expected);
    }

    public static bool Verify(string password, string encoded) => Verify(Encoding.UTF8.GetBytes(password), encoded);

    public static bool TryParse(string encoded, out int iterations, out byte[] salt, out byte[] hash)
    {
        iterations = 0;
        salt = hash = [];
        var parts = encoded.Split('$');
        if (parts.Length != 4 || parts[0] != Scheme) return false;
        if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out iterations) || iterations < 1) return false;
        try
        {
            salt = Convert.FromBase64String(parts[2]);
            hash = Convert.FromBase64String(parts[3]);
        }
        catch (FormatException)
        {
            return false;
        }
        return salt.Length > 0 && hash.Length > 0;
    }
}
