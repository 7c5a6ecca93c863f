namespace Gatehouse.Security.Authentication;

/// <summary>
/// Which client ids an identity may use [MQTT-3.1.3-?]: a client id belongs to one identity, so no other identity (and
/// no anonymous client) can take over its session. With <see cref="ClientIdRule.PrefixIdentity"/>, identity "dev1" may
/// use "dev1" and "dev1-anything"; when several identity names prefix a client id, the longest owns it ("dev-1-x"
/// belongs to identity "dev-1", not to "dev"). Ids the server assigned (empty client id) are always accepted.
/// </summary>
public sealed class ClientIdBinding(ClientIdRule rule, string separator)
{
    public ClientIdRule Rule { get; } = rule;

    /// <summary>Null when <paramref name="identity"/> may use <paramref name="clientId"/>, else why not.</summary>
    public string? Check(string? identity, string clientId, IReadOnlyCollection<string> knownIdentities)
    {
        if (Rule == ClientIdRule.Any) return null;
        var owner = OwnerOf(clientId, knownIdentities, identity);
        if (identity is null)
        {
            return owner is null ? null : $"client id '{clientId}' belongs to identity '{owner}'";
        }
        var matches = Rule == ClientIdRule.EqualsIdentity
            ? string.Equals(clientId, identity, StringComparison.Ordinal)
            : IsPrefixed(clientId, identity);
        if (!matches)
        {
            return Rule == ClientIdRule.EqualsIdentity
                ? $"client id must equal the identity name '{identity}'"
                : $"client id must be '{identity}' or start with '{identity}{separator}'";
        }
        return owner is not null && owner != identity ? $"client id '{clientId}' belongs to identity '{owner}'" : null;
    }

    /// <summary>The identity that owns <paramref name="clientId"/> under the rule: the longest matching name.</summary>
    public string? OwnerOf(string clientId, IReadOnlyCollection<string> knownIdentities, string? including = null)
    {
        string? owner = null;
        foreach (var name in including is null ? knownIdentities : knownIdentities.Append(including))
        {
            var owns = Rule == ClientIdRule.EqualsIdentity ? clientId == name : IsPrefixed(clientId, name);
            if (owns && (owner is null || name.Length > owner.Length)) owner = name;
        }
        return owner;
    }

    private bool IsPrefixed(string clientId, string identity) =>
        string.Equals(clientId, identity, StringComparison.Ordinal)
        || (clientId.Length > identity.Length + separator.Length
            && clientId.StartsWith(identity, StringComparison.Ordinal)
            && clientId.AsSpan(identity.Length).StartsWith(separator, StringComparison.Ordinal));
}
