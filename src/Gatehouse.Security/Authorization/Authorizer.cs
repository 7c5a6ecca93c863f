using Gatehouse.Protocol.Topics;

namespace Gatehouse.Security.Authorization;

/// <summary>
/// Decides publish, subscribe, retain and receive permissions from the ACL rules (file and store).
/// <para><b>Semantics: deny overrides, default deny.</b> Order does not matter. A request is allowed when at least one
/// allow rule that applies to the client grants the access and no deny rule that applies matches it — as Mosquitto 2
/// evaluates its acl_file (denials first). With no rules at all, everything is allowed (authentication still applies).</para>
/// <para><b>Rules apply</b> by subject: anonymous clients, everyone (Mosquitto <c>pattern</c>), one identity, or a group
/// of identities. %c and %u in a filter are replaced by the client id and identity name; when the value contains '/',
/// '+' or '#' (or %u for an anonymous client) the substitution is unsafe: such an allow rule does not apply, such a deny
/// rule always does (a client id of "#" must not turn "devices/%c/#" into "devices/#/#").</para>
/// <para><b>Wildcard subscriptions:</b> a SUBSCRIBE filter is granted only when one allow rule's filter <i>covers</i> it
/// (every topic it can match, see <see cref="TopicFilter.Covers"/>) and no deny rule covers it; "#" with only
/// "sensors/#" readable is refused. A deny rule that only overlaps the filter (read "a/#", deny "a/secret") does not
/// refuse the subscription; instead every delivery is checked (<see cref="MayReceive"/>, cached per principal and
/// topic) and denied topics are not delivered. The same per-delivery check makes rule changes apply at once to
/// existing subscriptions of connected clients.</para>
/// </summary>
public sealed class Authorizer
{
    private volatile RuleSet _set = RuleSet.Empty;
    private long _generation;
    private IReadOnlyList<AclRule> _fileRules = [];
    private IReadOnlyList<AclRule> _storeRules = [];
    private IReadOnlyDictionary<string, IReadOnlyList<string>> _groups = new Dictionary<string, IReadOnlyList<string>>();
    private readonly Lock _lock = new();

    /// <summary>Incremented on every rule change; cached decisions of older generations are discarded.</summary>
    public long Generation => Interlocked.Read(ref _generation);

    public bool HasRules => _set.Rules.Length > 0;

    public IReadOnlyList<AclRule> Rules => _set.Rules;

    public void SetFileRules(IReadOnlyList<AclRule> rules)
    {
        lock (_lock) { _fileRules = rules; Rebuild(); }
    }

    public void SetStoreRules(IReadOnlyList<AclRule> rules, IReadOnlyDictionary<string, IReadOnlyList<string>> groups)
    {
        lock (_lock) { _storeRules = rules; _groups = groups; Rebuild(); }
    }

    public bool MayPublish(ClientPrincipal principal, string topic, bool retain)
    {
        var set = _set;
        if (set.Rules.Length == 0) return true;
        var need = retain ? AclAccess.Publish | AclAccess.Retain : AclAccess.Publish;
        var caches = principal.Caches;
        return Cached(principal, caches, retain ? caches.Retain : caches.Publish, set, topic, need);
    }

    /// <summary>Whether a message on <paramref name="topic"/> may be delivered to <paramref name="principal"/> (per delivery, cached).</summary>
    public bool MayReceive(ClientPrincipal principal, string topic)
    {
        var set = _set;
        if (set.Rules.Length == 0) return true;
        var caches = principal.Caches;
        return Cached(principal, caches, caches.Receive, set, topic, AclAccess.Subscribe);
    }

    /// <summary>Whether <paramref name="filter"/> (without any $share/{name}/ prefix) may be subscribed to.</summary>
    public bool MaySubscribe(ClientPrincipal principal, string filter)
    {
        var set = _set;
        if (set.Rules.Length == 0) return true;
        return Evaluate(set, principal, filter, AclAccess.Subscribe, subscribe: true);
    }

    private bool Cached(ClientPrincipal principal, ClientPrincipal.DecisionCaches caches,
        System.Collections.Concurrent.ConcurrentDictionary<string, bool> cache, RuleSet set, string topic, AclAccess need)
    {
        var generation = set.Generation;
        if (Interlocked.Read(ref caches.Generation) != generation)
        {
            caches.Clear();
            Interlocked.Exchange(ref caches.Generation, generation);
        }
        if (cache.TryGetValue(topic, out var allowed)) return allowed;
        allowed = Evaluate(set, principal, topic, need, subscribe: false);
        if (cache.Count >= ClientPrincipal.CacheCapacity) cache.Clear();
        cache[topic] = allowed;
        return allowed;
    }

    internal static bool Evaluate(RuleSet set, ClientPrincipal principal, string target, AclAccess need, bool subscribe)
    {
        IReadOnlyList<string> groups = principal.Identity is null ? []
            : set.Groups.TryGetValue(principal.Identity, out var stored) ? stored : principal.TokenGroups;
        var granted = AclAccess.None;
        foreach (var rule in set.Rules)
        {
            if (!Applies(rule, principal, groups)) continue;
            var relevant = (rule.Access & need) != 0;
            if (rule.Deny && !relevant) continue;
            if (!TryResolve(rule, principal, out var filter))
            {
                if (rule.Deny) return false; // unsafe substitution: a deny rule applies to everything
                continue;
            }
            var hit = subscribe ? TopicFilter.Covers(filter, target) : TopicRules.Matches(filter, target);
            if (!hit) continue;
            if (rule.Deny) return false;
            granted |= rule.Access;
        }
        return (granted & need) == need;
    }

    private static bool Applies(AclRule rule, ClientPrincipal principal, IReadOnlyList<string> groups) => rule.SubjectKind switch
    {
        AclSubjectKind.Anonymous => principal.IsAnonymous,
        AclSubjectKind.Everyone => true,
        AclSubjectKind.Identity => principal.Identity is not null && string.Equals(principal.Identity, rule.Subject, StringComparison.Ordinal),
        AclSubjectKind.Group => principal.Identity is not null && groups.Contains(rule.Subject ?? "", StringComparer.Ordinal),
        _ => false,
    };

    private static bool TryResolve(AclRule rule, ClientPrincipal principal, out string filter)
    {
        filter = rule.Filter;
        if (!rule.HasPlaceholders) return true;
        if (filter.Contains("%c", StringComparison.Ordinal))
        {
            if (!IsSafeLevel(principal.ClientId)) return false;
            filter = filter.Replace("%c", principal.ClientId, StringComparison.Ordinal);
        }
        if (filter.Contains("%u", StringComparison.Ordinal))
        {
            if (principal.Identity is not { } identity || !IsSafeLevel(identity)) return false;
            filter = filter.Replace("%u", identity, StringComparison.Ordinal);
        }
        return true;
    }

    private static bool IsSafeLevel(string value) => value.Length > 0 && value.AsSpan().IndexOfAny("/+#\0") < 0;

    private void Rebuild()
    {
        var generation = Interlocked.Increment(ref _generation);
        _set = new RuleSet([.. _fileRules, .. _storeRules], _groups, generation);
    }

    internal sealed class RuleSet(AclRule[] rules, IReadOnlyDictionary<string, IReadOnlyList<string>> groups, long generation)
    {
        public static readonly RuleSet Empty = new([], new Dictionary<string, IReadOnlyList<string>>(), 0);
        public AclRule[] Rules { get; } = rules;
        public IReadOnlyDictionary<string, IReadOnlyList<string>> Groups { get; } = groups;
        public long Generation { get; } = generation;
    }
}
