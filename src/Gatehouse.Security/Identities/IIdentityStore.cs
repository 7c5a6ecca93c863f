using Gatehouse.Security.Authorization;

namespace Gatehouse.Security.Identities;

/// <summary>
/// Identities and the ACL rules kept beside them. Every change increments <see cref="ChangeCounter"/>, which a running
/// server polls to pick up changes another process (the CLI) made.
/// </summary>
public interface IIdentityStore : IDisposable
{
    IReadOnlyList<Identity> ListIdentities();
    Identity? FindIdentity(string name);
    /// <summary>Adds or replaces the identity with this name.</summary>
    void SaveIdentity(Identity identity);
    bool RemoveIdentity(string name);

    IReadOnlyList<AclRule> ListRules();
    /// <summary>Adds a rule; returns its id.</summary>
    long AddRule(AclRule rule);
    bool RemoveRule(long id);

    /// <summary>Client id → identity that owns its persistent session, so ownership survives a restart.</summary>
    IReadOnlyDictionary<string, string> LoadSessionOwners();
    void SetSessionOwner(string clientId, string? identity);

    long ChangeCounter { get; }
}
