using Gatehouse.Security.Identities;
using Gatehouse.Security.Quotas;

namespace Gatehouse.Security;

/// <summary>Configuration section "Security". The dedicated flags of <c>gatehouse serve</c> set the same keys.</summary>
public sealed class SecurityOptions
{
    public const string SectionName = "Security";

    /// <summary>
    /// null (the default): anonymous clients are accepted only on loopback connections (local and remote address both
    /// loopback). true: accepted everywhere. false: refused everywhere (CONNACK 0x87 / return code 5).
    /// </summary>
    public bool? AllowAnonymous { get; set; }

    /// <summary>Mosquitto-format acl_file; reloaded when it changes.</summary>
    public string? AclFile { get; set; }

    /// <summary>Key for JWTs passed as the MQTT password: a PEM public key (RSA → RS256, EC P-256 → ES256) or an HMAC secret (HS256).</summary>
    public string? JwtKey { get; set; }

    /// <summary>When set, a token's "iss" must equal it.</summary>
    public string? JwtIssuer { get; set; }

    /// <summary>When set, a token's "aud" (string or array) must contain it.</summary>
    public string? JwtAudience { get; set; }

    /// <summary>Tolerance for exp/nbf, seconds.</summary>
    public int JwtClockSkewSeconds { get; set; } = 30;

    /// <summary>Which client ids an identity may use: any, equals-identity, prefix-identity.</summary>
    public ClientIdRule ClientIdRule { get; set; } = ClientIdRule.PrefixIdentity;

    /// <summary>Separator after the identity name for <see cref="ClientIdRule.PrefixIdentity"/> (identity "dev1" may use "dev1" and "dev1-x").</summary>
    public string ClientIdSeparator { get; set; } = "-";

    /// <summary>What a denied QoS 0 PUBLISH, or any denied 3.1.1 PUBLISH, does to the connection (it is always audited).</summary>
    public DenyPublishAction DenyPublishAction { get; set; } = DenyPublishAction.Disconnect;

    /// <summary>PBKDF2-SHA256 iterations for new password hashes (existing hashes keep theirs).</summary>
    public int PasswordIterations { get; set; } = PasswordHasher.DefaultIterations;

    /// <summary>How often the server looks for identity/ACL changes made by the CLI in security.db.</summary>
    public int ReloadIntervalMs { get; set; } = 500;

    /// <summary>Audit rows kept in security.db; older ones are pruned.</summary>
    public int AuditRetentionRows { get; set; } = 100_000;

    /// <summary>PEM file of CA certificates; when set, the TLS listeners require client certificates chained to them.</summary>
    public string? TlsClientCa { get; set; }

    /// <summary>Certificate revocation list (PEM or DER) checked for client certificates; reloaded when it changes.</summary>
    public string? TlsCrl { get; set; }

    /// <summary>Default message/byte rates and quotas per identity ("Security:Limits:*"); metadata <c>limits.*</c> overrides them.</summary>
    public LimitsOptions Limits { get; set; } = new();

    /// <summary>Failed-authentication throttling and temporary bans ("Security:BruteForce:*").</summary>
    public BruteForceOptions BruteForce { get; set; } = new();

    /// <summary>CONNECT rate per listener and per source address ("Security:ConnectionRate:*").</summary>
    public ConnectionRateOptions ConnectionRate { get; set; } = new();
}

public enum ClientIdRule
{
    Any,
    EqualsIdentity,
    PrefixIdentity,
}

public enum DenyPublishAction
{
    Disconnect,
    Ignore,
}
