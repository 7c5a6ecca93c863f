namespace Gatehouse.Security.Authorization;

/// <summary>What a rule grants or denies. Mosquitto's "read" is Subscribe (and receiving), "write" is Publish + Retain.</summary>
[Flags]
public enum AclAccess
{
    None = 0,
    /// <summary>Publish to matching topics (without the retain flag).</summary>
    Publish = 1,
    /// <summary>Subscribe to filters the rule's filter covers, and receive messages on matching topics.</summary>
    Subscribe = 2,
    /// <summary>Publish with the retain flag set (needs Publish too).</summary>
    Retain = 4,
    All = Publish | Subscribe | Retain,
}

public enum AclSubjectKind
{
    /// <summary>Clients without an identity (Mosquitto: topic lines before any user line).</summary>
    Anonymous,
    /// <summary>Every client (Mosquitto: pattern lines); placeholders %c/%u are substituted.</summary>
    Everyone,
    Identity,
    Group,
}

/// <summary>
/// One authorization rule. <see cref="Filter"/> is an MQTT topic filter that may hold %c (client id) and %u (identity
/// name) in any rule. Rules combine as deny-overrides: see <see cref="Authorizer"/>.
/// </summary>
public sealed record AclRule(AclSubjectKind SubjectKind, string? Subject, bool Deny, AclAccess Access, string Filter)
{
    /// <summary>Store id (0 for rules from the ACL file).</summary>
    public long Id { get; init; }

    /// <summary>"file" or "store", for listings and logs.</summary>
    public string Source { get; init; } = "store";

    public bool HasPlaceholders => Filter.Contains("%c", StringComparison.Ordinal) || Filter.Contains("%u", StringComparison.Ordinal);

    public static string FormatAccess(bool deny, AclAccess access) => deny
        ? (access == AclAccess.All ? "deny" : "deny:" + AccessNames(access))
        : AccessNames(access);

    public static string AccessNames(AclAccess access) => access switch
    {
        AclAccess.All => "readwrite",
        AclAccess.Subscribe => "read",
        AclAccess.Publish | AclAccess.Retain => "write",
        _ => string.Join(',', new[] { AclAccess.Publish, AclAccess.Subscribe, AclAccess.Retain }
            .Where(a => access.HasFlag(a)).Select(a => a.ToString().ToLowerInvariant())),
    };

    /// <summary>Parses "read", "write", "readwrite", "deny", or a comma list of publish/subscribe/retain.</summary>
    public static bool TryParseAccess(string text, out bool deny, out AclAccess access)
    {
        deny = false;
        access = AclAccess.None;
        switch (text.ToLowerInvariant())
        {
            case "read": access = AclAccess.Subscribe; return true;
            case "write": access = AclAccess.Publish | AclAccess.Retain; return true;
            case "readwrite": access = AclAccess.All; return true;
            case "deny": deny = true; access = AclAccess.All; return true;
        }
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            switch (part.ToLowerInvariant())
            {
                case "publish": access |= AclAccess.Publish; break;
                case "subscribe": access |= AclAccess.Subscribe; break;
                case "retain": access |= AclAccess.Retain; break;
                default: return false;
            }
        }
        return access != AclAccess.None;
    }
}
