using Gatehouse.Security.Authorization;

namespace Gatehouse.Security.Identities;

/// <summary>An <see cref="IIdentityStore"/> in memory, for tests and embedding.</summary>
public sealed class MemoryIdentityStore : IIdentityStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Identity> _identities = new(StringComparer.Ordinal);
    private readonly List<AclRule> _rules = [];
    private readonly Dictionary<string, string> _owners = new(StringComparer.Ordinal);
    private long _nextRuleId = 1;
    private long _changes;

    public long ChangeCounter => Interlocked.Read(ref _changes);

    public IReadOnlyList<Identity> ListIdentities()
    {
        lock (_lock) return [.. _identities.Values.OrderBy(i => i.Name, StringComparer.Ordinal)];
    }

    public Identity? FindIdentity(string name)
    {
        lock (_lock) return _identities.GetValueOrDefault(name);
    }

    public void SaveIdentity(Identity identity)
    {
        lock (_lock)
        {
            _identities[identity.Name] = identity;
            _changes++;
        }
    }

    public bool RemoveIdentity(string name)
    {
        lock (_lock)
        {
            if (!_identities.Remove(name)) return false;
            _changes++;
            return true;
        }
    }

    public IReadOnlyList<AclRule> ListRules()
    {
        lock (_lock) return [.. _rules];
    }

    public long AddRule(AclRule rule)
    {
        lock (_lock)
        {
            var id = _nextRuleId++;
            _rules.Add(rule with { Id = id, Source = "store" });
            _changes++;
            return id;
        }
    }

    public bool RemoveRule(long id)
    {
        lock (_lock)
        {
            if (_rules.RemoveAll(r => r.Id == id) == 0) return false;
            _changes++;
            return true;
        }
    }

    public IReadOnlyDictionary<string, string> LoadSessionOwners()
    {
        lock (_lock) return new Dictionary<string, string>(_owners, StringComparer.Ordinal);
    }

    public void SetSessionOwner(string clientId, string? identity)
    {
        lock (_lock)
        {
            if (identity is null) _owners.Remove(clientId);
            else _owners[clientId] = identity;
        }
    }

    public void Dispose()
    {
    }
}
