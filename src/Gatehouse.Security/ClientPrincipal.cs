using System.Collections.Concurrent;
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

    public ClientPrincipal(string? identity, string clientId, IReadOnlyList<string>? tokenGroups = null,
        string? listener = null, string? remoteAddress = null, string method = "anonymous")
    {
        Identity = identity;
        ClientId = clientId;
        TokenGroups = tokenGroups ?? [];
        Listener = listener;
        RemoteAddress = remoteAddress;
        Method = method;
    }

    /// <summary>Identity name; null for an anonymous client.</summary>
    public string? Identity { get; }
    public string ClientId { get; internal set; }
    /// <summary>Groups carried by a token, used when the identity is not in the store.</summary>
    public IReadOnlyList<string> TokenGroups { get; }
    public string? Listener { get; }
    public string? RemoteAddress { get; }
    /// <summary>How the client authenticated: password, certificate, jwt, anonymous.</summary>
    public string Method { get; }
    public bool IsAnonymous => Identity is null;
    /// <summary>Rates and quotas shared by the identity's connections; null when none is configured (one null test per PUBLISH).</summary>
    public IdentityQuota? Quota { get; internal set; }

    // Created on first use: most principals never meet an ACL rule, and an idle connection should cost bytes, not kilobytes.
    private ConcurrentDictionary<string, bool>? _publishCache;
    private ConcurrentDictionary<string, bool>? _retainCache;
    private ConcurrentDictionary<string, bool>? _receiveCache;

    internal ConcurrentDictionary<string, bool> PublishCache => _publishCache ?? LazyInitializer.EnsureInitialized(ref _publishCache, NewCache);
    internal ConcurrentDictionary<string, bool> RetainCache => _retainCache ?? LazyInitializer.EnsureInitialized(ref _retainCache, NewCache);
    internal ConcurrentDictionary<string, bool> ReceiveCache => _receiveCache ?? LazyInitializer.EnsureInitialized(ref _receiveCache, NewCache);
    internal long CacheGeneration;

    /// <summary>Forgets every cached decision (the rules changed).</summary>
    internal void ClearCaches()
    {
        _publishCache?.Clear();
        _retainCache?.Clear();
        _receiveCache?.Clear();
    }

    private static ConcurrentDictionary<string, bool> NewCache() => new(StringComparer.Ordinal);

    public override string ToString() => Identity ?? "(anonymous)";
}
