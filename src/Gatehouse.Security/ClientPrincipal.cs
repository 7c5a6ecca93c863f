using System.Collections.Concurrent;
using System.Net;
using Gatehouse.Security.Quotas;

namespace Gatehouse.Security;

/// <summary>
/// Who a connection (and the session it owns) acts as: the authenticated identity (null for anonymous clients), the
/// client id and user name for ACL placeholders, and a small per-principal cache of authorization decisions.
/// </summary>
public sealed class ClientPrincipal
{
    /// <summary>Entries per decision cache; the cache is cleared when full (bounded memory per connection).</summary>
    public const int CacheCapacity = 1024;

    /// <param name="remoteAddress">The peer's address (null when unknown) and <paramref name="remotePort"/> its port.</param>
    public ClientPrincipal(string? identity, string clientId, IReadOnlyList<string>? tokenGroups = null,
        string? listener = null, IPAddress? remoteAddress = null, int remotePort = 0, string method = "anonymous", DateTimeOffset? validUntil = null)
    {
        Identity = identity;
        ClientId = clientId;
        _remoteAddress = remoteAddress;
        _remotePort = remotePort;
        _credential = tokenGroups is null or { Count: 0 } && validUntil is null
            ? SharedCredentials.GetOrAdd((listener, method), static key => new Credential(key.Listener, key.Method, [], 0))
            : new Credential(listener, method, tokenGroups ?? [], validUntil?.UtcTicks ?? 0);
    }

    /// <summary>Identity name; null for an anonymous client.</summary>
    public string? Identity { get; }
    public string ClientId { get; internal set; }
    /// <summary>Groups carried by a token, used when the identity is not in the store.</summary>
    public IReadOnlyList<string> TokenGroups => _credential.TokenGroups;
    public string? Listener => _credential.Listener;
    /// <summary>The peer (an IP endpoint; made on each call, formatted only when an audit record needs it).</summary>
    public EndPoint? RemoteEndPoint => _remoteAddress is null ? null : new IPEndPoint(_remoteAddress, _remotePort);

    // The peer's address (shared by the connections from one address) and port, not its IPEndPoint: 24 bytes fewer in
    // every connection, which would otherwise hold that object for its whole life.
    private readonly IPAddress? _remoteAddress;
    private readonly int _remotePort;
    public string? RemoteAddress => RemoteEndPoint?.ToString();
    /// <summary>How the client authenticated: password, certificate, jwt, anonymous.</summary>
    public string Method => _credential.Method;
    public bool IsAnonymous => Identity is null;
    /// <summary>When the credential stops being valid (a token's exp plus the clock skew); null when it does not expire.</summary>
    public DateTimeOffset? ValidUntil => _credential.ValidUntilTicks == 0 ? null : new DateTimeOffset(_credential.ValidUntilTicks, TimeSpan.Zero);

    // How the principal authenticated. Every principal with neither token groups nor an expiry (anonymous, password,
    // certificate clients) shares one per listener and method: four fields fewer in each of a million idle connections.
    private readonly Credential _credential;
    private sealed record Credential(string? Listener, string Method, IReadOnlyList<string> TokenGroups, long ValidUntilTicks);
    // Bounded: listeners and methods are the broker's own names.
    private static readonly ConcurrentDictionary<(string? Listener, string Method), Credential> SharedCredentials = new();

    /// <summary>Rates and quotas shared by the identity's connections; null when none is configured (one null test per PUBLISH).</summary>
    public IdentityQuota? Quota { get; internal set; }

    // Created on first use: most principals never meet an ACL rule, and an idle connection should cost bytes, not kilobytes.
    private DecisionCaches? _caches;

    /// <summary>The principal's cached authorization decisions (ACL rules apply).</summary>
    internal DecisionCaches Caches => _caches ?? LazyInitializer.EnsureInitialized(ref _caches, static () => new DecisionCaches());

    /// <summary>Decisions by topic, one cache per kind of access, and the rule generation they were made under.</summary>
    internal sealed class DecisionCaches
    {
        private ConcurrentDictionary<string, bool>? _publish;
        private ConcurrentDictionary<string, bool>? _retain;
        private ConcurrentDictionary<string, bool>? _receive;
        public long Generation;

        public ConcurrentDictionary<string, bool> Publish => _publish ?? LazyInitializer.EnsureInitialized(ref _publish, NewCache);
        public ConcurrentDictionary<string, bool> Retain => _retain ?? LazyInitializer.EnsureInitialized(ref _retain, NewCache);
        public ConcurrentDictionary<string, bool> Receive => _receive ?? LazyInitializer.EnsureInitialized(ref _receive, NewCache);

        /// <summary>Forgets every cached decision (the rules changed).</summary>
        public void Clear()
        {
            _publish?.Clear();
            _retain?.Clear();
            _receive?.Clear();
        }

        private static ConcurrentDictionary<string, bool> NewCache() => new(StringComparer.Ordinal);
    }

    public override string ToString() => Identity ?? "(anonymous)";
}
