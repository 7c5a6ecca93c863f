namespace Gatehouse.Security.Identities;

/// <summary>
/// A device or user known to the broker. Credentials: an optional password hash (see <see cref="PasswordHasher"/>) and
/// any number of certificate thumbprints (SHA-1 or SHA-256 hex). A certificate whose subject CN equals
/// <see cref="Name"/> also maps to it.
/// </summary>
public sealed record Identity
{
    public required string Name { get; init; }
    public bool Enabled { get; init; } = true;
    public IReadOnlyList<string> Groups { get; init; } = [];
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
    public string? PasswordHash { get; init; }
    /// <summary>SCRAM-SHA-256 credential (<see cref="ScramCredential.Encode"/>), derived with the password hash; never the password.</summary>
    public string? ScramSha256 { get; init; }
    public IReadOnlyList<string> CertificateThumbprints { get; init; } = [];

    /// <summary>Names: 1-128 characters, no control characters, no MQTT wildcards or '/' (they would break %u patterns).</summary>
    public static bool IsValidName(string name) =>
        name.Length is > 0 and <= 128 && !name.Any(c => char.IsControl(c) || c is '+' or '#' or '/' or '$');

    /// <summary>Thumbprints compare as upper-case hex without separators.</summary>
    public static string NormalizeThumbprint(string thumbprint) =>
        new string([.. thumbprint.Where(char.IsAsciiHexDigit)]).ToUpperInvariant();

    /// <summary>Whether a change from this to <paramref name="next"/> must end live connections: disabled, or a credential changed.</summary>
    public bool IsRevokedBy(Identity? next) =>
        next is null
        || (Enabled && !next.Enabled)
        || !string.Equals(PasswordHash, next.PasswordHash, StringComparison.Ordinal)
        || !string.Equals(ScramSha256, next.ScramSha256, StringComparison.Ordinal)
        || CertificateThumbprints.Except(next.CertificateThumbprints, StringComparer.OrdinalIgnoreCase).Any();
}
