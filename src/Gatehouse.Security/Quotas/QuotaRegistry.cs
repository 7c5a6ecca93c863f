using System.Collections.Concurrent;
using Gatehouse.Security.Identities;

namespace Gatehouse.Security.Quotas;

/// <summary>
/// One <see cref="IdentityQuota"/> per identity (all its connections share it), built from "Security:Limits" and the
/// identity's <c>limits.*</c> metadata. Anonymous clients get one per connection. Null when nothing is limited.
/// </summary>
public sealed class QuotaRegistry(LimitsOptions defaults, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, IdentityQuota> _byIdentity = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (IdentityQuota Owner, int Bytes)> _retained = new(StringComparer.Ordinal);
    private readonly Lock _retainedLock = new();
    private volatile bool _retainedInUse;

    public LimitsOptions Defaults => defaults;

    /// <summary>The quota for a newly authenticated principal, or null when no limit applies to it.</summary>
    public IdentityQuota? For(ClientPrincipal principal, IdentitySnapshot identities)
    {
        if (principal.Identity is not { } name)
        {
            return defaults.IsUnlimited ? null : new IdentityQuota("(anonymous) " + principal.ClientId, defaults, time);
        }
        var limits = LimitsFor(identities.ByName.GetValueOrDefault(name));
        if (_byIdentity.TryGetValue(name, out var existing))
        {
            existing.Apply(limits);
            return existing;
        }
        if (limits.IsUnlimited) return null;
        // A static factory with its argument: a capturing lambda would allocate its closure on every call, anonymous ones too.
        return _byIdentity.GetOrAdd(name, static (n, state) => new IdentityQuota(n, state.limits, state.time), (limits, time));
    }

    /// <summary>After a reload: identities whose limits changed get them at once (connected clients included).</summary>
    public void Refresh(IdentitySnapshot identities)
    {
        foreach (var (name, quota) in _byIdentity) quota.Apply(LimitsFor(identities.ByName.GetValueOrDefault(name)));
    }

    /// <summary>
    /// A retained PUBLISH of <paramref name="bytes"/> payload bytes to <paramref name="topic"/>: false when it would take
    /// the identity over its retained-message or retained-byte quota (0x97). The registry remembers which limited
    /// identity set each retained topic, so clearing or replacing it (by anyone) gives the quota back. Not tracked:
    /// expiry and anything retained before this start (counts begin at 0 after a restart).
    /// </summary>
    public bool TryRetain(IdentityQuota? quota, string topic, int bytes)
    {
        var limited = quota is not null && quota.Limits.LimitsRetained;
        if (!limited && !_retainedInUse) return true;
        lock (_retainedLock)
        {
            var had = _retained.TryGetValue(topic, out var previous);
            if (limited && bytes > 0)
            {
                var same = had && ReferenceEquals(previous.Owner, quota);
                if (!quota!.CanRetain(same ? 0 : 1, bytes - (same ? previous.Bytes : 0))) return false;
            }
            if (had)
            {
                previous.Owner.AdjustRetained(-1, -previous.Bytes);
                _retained.Remove(topic);
            }
            if (limited && bytes > 0)
            {
                quota!.AdjustRetained(1, bytes);
                _retained[topic] = (quota, bytes);
                _retainedInUse = true;
            }
            return true;
        }
    }

    public IdentityQuota? Find(string identity) => _byIdentity.GetValueOrDefault(identity);

    private LimitsOptions LimitsFor(Identity? identity)
    {
        if (identity is null || identity.Metadata.Count == 0) return defaults;
        try
        {
            return defaults.WithOverrides(identity.Metadata);
        }
        catch (FormatException)
        {
            // The CLI validates limits.* metadata; a hand-edited bad value falls back to the defaults.
            return defaults;
        }
    }
}
