using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Threading.Channels;
using Gatehouse.Protocol;
using Gatehouse.Security.Audit;
using Gatehouse.Security.Authentication;
using Gatehouse.Security.Authorization;
using Gatehouse.Security.Identities;
using Gatehouse.Security.Quotas;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Security;

/// <summary>
/// The security of one server: identities (from the store, reloaded when the CLI changes them), authentication,
/// authorization (ACL file + store rules), audit and revocation. When a reload finds an identity disabled, removed or
/// with a changed credential, <see cref="IdentityRevoked"/> fires so the broker disconnects its live connections.
/// </summary>
public sealed class SecurityService : IBrokerSecurity, IAsyncDisposable
{
    private readonly SecurityOptions _options;
    private readonly IIdentityStore _store;
    private readonly IAuditLog _audit;
    private readonly TimeProvider _time;
    private readonly ILogger _log;
    private readonly ConcurrentDictionary<string, string> _sessionOwners = new(StringComparer.Ordinal);
    private readonly Lock _reloadLock = new();
    private volatile IdentitySnapshot _identities = IdentitySnapshot.Empty;
    private long _loadedCounter = -1;
    private AclFileWatcher? _aclWatcher;
    private ITimer? _poll;
    private readonly Channel<(string ClientId, string? Identity)> _ownerWrites =
        Channel.CreateUnbounded<(string, string?)>(new UnboundedChannelOptions { SingleReader = true });
    private Task? _ownerWriter;
    private long _connectionRateRefused;
    private long _lastConnectionRateAudit = long.MinValue;
    private readonly byte[] _scramFakeKey = RandomNumberGenerator.GetBytes(32);

    public SecurityService(SecurityOptions options, IIdentityStore store, IAuditLog audit, ILoggerFactory loggerFactory,
        TimeProvider? time = null, JwtValidator? jwt = null)
    {
        _options = options;
        _store = store;
        _audit = audit;
        _time = time ?? TimeProvider.System;
        _log = loggerFactory.CreateLogger("Gatehouse.Security");
        Authenticator = new ConnectAuthenticator(options, () => _identities, jwt);
        Authorizer = new Authorizer();
        Quotas = new QuotaRegistry(options.Limits, _time);
        BruteForce = new BruteForceGuard(options.BruteForce, _time);
        ConnectionRate = new ConnectionRateLimiter(options.ConnectionRate, _time);
        ReloadStore(initial: true);
        foreach (var (clientId, identity) in store.LoadSessionOwners()) _sessionOwners[clientId] = identity;
        if (!string.IsNullOrEmpty(options.AclFile))
        {
            // Throws (FormatException / IOException) at start-up: a broken ACL file must not start an open server.
            Authorizer.SetFileRules(MosquittoAclFile.Load(options.AclFile));
        }
    }

    public ConnectAuthenticator Authenticator { get; }
    public Authorizer Authorizer { get; }
    public QuotaRegistry Quotas { get; }
    public BruteForceGuard BruteForce { get; }
    public ConnectionRateLimiter ConnectionRate { get; }
    /// <summary>CONNECTs refused for the connection rate since start.</summary>
    public long ConnectionRateRefused => Interlocked.Read(ref _connectionRateRefused);
    public SecurityOptions Options => _options;
    public IdentitySnapshot Identities => _identities;
    public DenyPublishAction DenyPublishAction => _options.DenyPublishAction;

    /// <summary>Called with (identity, reason) when its live connections must end; the host wires it to the broker.</summary>
    public Func<string, ReasonCode, int>? IdentityRevoked { get; set; }

    /// <summary>Starts polling the store for changes and watching the ACL file.</summary>
    public void Start()
    {
        var interval = TimeSpan.FromMilliseconds(Math.Max(50, _options.ReloadIntervalMs));
        _poll = _time.CreateTimer(_ => PollStore(), null, interval, interval);
        _ownerWriter = Task.Run(WriteOwnersAsync);
        if (!string.IsNullOrEmpty(_options.AclFile))
        {
            _aclWatcher = new AclFileWatcher(_options.AclFile, rules =>
            {
                Authorizer.SetFileRules(rules);
                _log.LogInformation("ACL file {Path} reloaded: {Count} rules", _options.AclFile, rules.Count);
            }, ex => _log.LogError("ACL file {Path} not reloaded, the previous rules stay: {Error}", _options.AclFile, ex.Message), _time);
        }
    }

    /// <summary>Re-reads identities and rules if the store's change counter moved. Returns whether it did.</summary>
    public bool PollStore()
    {
        try
        {
            return ReloadStore(initial: false);
        }
        catch (Exception ex)
        {
            _log.LogError(ex, "Cannot reload identities and ACL rules from the store");
            return false;
        }
    }

    public ConnectDecision Authenticate(ConnectAttempt attempt)
    {
        // Formatted only when a rate limit or a ban needs it: most connections meet neither.
        string? address = null;
        if (ConnectionRate.Enabled && ConnectionRate.TryAdmit(attempt.Listener, address ??= BruteForceGuard.AddressOf(attempt.RemoteAddress)) is { } exhausted)
        {
            var refused = Interlocked.Increment(ref _connectionRateRefused);
            if (OncePerSecond(ref _lastConnectionRateAudit))
            {
                Audit(AuditKind.ConnectionRateExceeded, attempt.UserName, attempt.ClientId, attempt.RemoteEndPointText, attempt.Listener,
                    ReasonCode.ConnectionRateExceeded, $"{exhausted} connection rate exceeded ({refused} refused since start)");
            }
            return ConnectDecision.Deny(ReasonCode.ConnectionRateExceeded, $"{exhausted} connection rate exceeded");
        }
        if (BruteForce.MayHaveBans && BruteForce.IsBanned(address ??= BruteForceGuard.AddressOf(attempt.RemoteAddress), attempt.UserName, out var ban))
        {
            // Refused before the authenticator runs: a banned client costs no password hash.
            var reason = $"{ban.Key} banned until {ban.Until:O}";
            Audit(AuditKind.BanRefused, attempt.UserName, attempt.ClientId, attempt.RemoteEndPointText, attempt.Listener, ReasonCode.Banned, reason);
            return ConnectDecision.Deny(ReasonCode.Banned, reason);
        }
        var decision = Authenticator.Authenticate(attempt);
        if (!decision.Allowed)
        {
            var kind = decision.ReasonCode == ReasonCode.ClientIdentifierNotValid ? AuditKind.ClientIdRefused : AuditKind.AuthenticationFailed;
            Audit(kind, attempt.UserName, attempt.ClientId, attempt.RemoteEndPointText, attempt.Listener, decision.ReasonCode, decision.Reason);
            if (decision.ReasonCode == ReasonCode.BadUserNameOrPassword && BruteForce.RecordFailure(address ?? BruteForceGuard.AddressOf(attempt.RemoteAddress), attempt.UserName) is { } bans)
            {
                foreach (var started in bans)
                {
                    var detail = $"{started.Key} banned for {(started.Until - _time.GetUtcNow()).TotalSeconds:0} s (ban {started.Count}) after {BruteForce.Options.MaxFailures} failed authentications";
                    Audit(AuditKind.Banned, attempt.UserName, attempt.ClientId, attempt.RemoteEndPointText, attempt.Listener, ReasonCode.Banned, detail);
                    _log.LogWarning("{Detail}", detail);
                }
            }
            return decision;
        }
        BruteForce.RecordSuccess(attempt.UserName);
        decision.Principal!.Quota = Quotas.For(decision.Principal, _identities);
        return decision;
    }

    public IEnhancedAuthExchange? StartEnhancedAuthentication(string method)
    {
        // Method names compare exactly (SASL mechanism names are upper case).
        if (method != ScramSha256Server.MethodName) return null;
        var snapshot = _identities;
        return new ScramSha256Server(method, name => ScramCredential.TryParse(snapshot.ByName.GetValueOrDefault(name)?.ScramSha256),
            _scramFakeKey, _options.PasswordIterations);
    }

    public void OnRateLimited(ClientPrincipal principal, string topic, string outcome)
    {
        if (principal.Quota is not { } quota || !quota.ShouldAudit()) return;
        Audit(AuditKind.RateLimited, principal, ReasonCode.MessageRateTooHigh,
            $"publish to {topic} {outcome}; {quota.RateLimited} over the rate since start ({quota.Limits})");
    }

    public bool TryRetain(ClientPrincipal principal, string topic, int payloadBytes)
    {
        if (Quotas.TryRetain(principal.Quota, topic, payloadBytes)) return true;
        var (messages, bytes) = principal.Quota!.Retained;
        OnQuotaExceeded(principal, $"retained publish to {topic} ({payloadBytes} bytes) refused: identity holds {messages} retained message(s), {bytes} bytes");
        return false;
    }

    public void OnQuotaExceeded(ClientPrincipal principal, string detail) =>
        Audit(AuditKind.QuotaExceeded, principal, ReasonCode.QuotaExceeded, detail);

    private bool OncePerSecond(ref long last)
    {
        var now = _time.GetTimestamp();
        var seen = Interlocked.Read(ref last);
        if (seen != long.MinValue && now - seen < _time.TimestampFrequency) return false;
        return Interlocked.CompareExchange(ref last, now, seen) == seen;
    }

    public bool MayPublish(ClientPrincipal principal, string topic, bool retain)
    {
        if (Authorizer.MayPublish(principal, topic, retain)) return true;
        Audit(AuditKind.PublishDenied, principal, ReasonCode.NotAuthorized, (retain ? "retained publish to " : "publish to ") + topic);
        return false;
    }

    public bool MaySubscribe(ClientPrincipal principal, string filter)
    {
        if (Authorizer.MaySubscribe(principal, filter)) return true;
        Audit(AuditKind.SubscribeDenied, principal, ReasonCode.NotAuthorized, "subscribe to " + filter);
        return false;
    }

    public bool MayReceive(ClientPrincipal principal, string topic) => Authorizer.MayReceive(principal, topic);

    public ClientPrincipal RecallPrincipal(string? identity, string clientId) => new(identity, clientId, method: "recovered");

    public string? RecallSessionOwner(string clientId) => _sessionOwners.GetValueOrDefault(clientId);

    public void RememberSessionOwner(string clientId, string? identity)
    {
        if (identity is null)
        {
            if (!_sessionOwners.TryRemove(clientId, out _)) return;
        }
        else
        {
            if (_sessionOwners.TryGetValue(clientId, out var known) && known == identity) return;
            _sessionOwners[clientId] = identity;
        }
        // Called under the broker's session lock: the write happens on a background task, in order.
        _ownerWrites.Writer.TryWrite((clientId, identity));
    }

    private async Task WriteOwnersAsync()
    {
        while (await _ownerWrites.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (_ownerWrites.Reader.TryRead(out var write))
            {
                try
                {
                    _store.SetSessionOwner(write.ClientId, write.Identity);
                }
                catch (Exception ex)
                {
                    _log.LogError(ex, "Cannot record the owner of session {ClientId}", write.ClientId);
                }
            }
        }
    }

    public void OnSessionOwnershipRefused(ClientPrincipal principal, string? owner) =>
        Audit(AuditKind.SessionOwnershipRefused, principal, ReasonCode.ClientIdentifierNotValid,
            $"session '{principal.ClientId}' belongs to {(owner is null ? "an anonymous client" : "identity '" + owner + "'")}");

    /// <summary>Disconnects the live connections of <paramref name="identity"/> and audits it.</summary>
    public int Revoke(string identity, string reason)
    {
        var count = IdentityRevoked?.Invoke(identity, ReasonCode.AdministrativeAction) ?? 0;
        Audit(AuditKind.Revoked, identity, null, null, null, ReasonCode.AdministrativeAction, $"{reason}; {count} connection(s) closed");
        _log.LogInformation("Identity {Identity} revoked ({Reason}): {Count} connection(s) closed", identity, reason, count);
        return count;
    }

    public async ValueTask DisposeAsync()
    {
        if (_poll is not null) await _poll.DisposeAsync().ConfigureAwait(false);
        _ownerWrites.Writer.TryComplete();
        if (_ownerWriter is not null) await _ownerWriter.ConfigureAwait(false);
        _aclWatcher?.Dispose();
    }

    private bool ReloadStore(bool initial)
    {
        List<(string Identity, string Reason)>? revoked = null;
        lock (_reloadLock)
        {
            var counter = _store.ChangeCounter;
            if (counter == _loadedCounter) return false;
            var previous = _identities;
            var next = new IdentitySnapshot(_store.ListIdentities());
            var rules = _store.ListRules();
            _identities = next;
            Authorizer.SetStoreRules(rules, next.Groups);
            Quotas.Refresh(next);
            _loadedCounter = counter;
            if (!initial)
            {
                foreach (var old in previous.All)
                {
                    var now = next.ByName.GetValueOrDefault(old.Name);
                    if (!old.IsRevokedBy(now)) continue;
                    var reason = now is null ? "identity removed" : !now.Enabled ? "identity disabled" : "credential changed";
                    (revoked ??= []).Add((old.Name, reason));
                }
                _log.LogInformation("Security store changed: {Identities} identities, {Rules} ACL rules", next.All.Count, rules.Count);
            }
        }
        if (revoked is not null)
        {
            foreach (var (identity, reason) in revoked) Revoke(identity, reason);
        }
        return true;
    }

    private void Audit(AuditKind kind, ClientPrincipal principal, ReasonCode reasonCode, string detail) =>
        Audit(kind, principal.Identity, principal.ClientId, principal.RemoteAddress, principal.Listener, reasonCode, detail);

    private void Audit(AuditKind kind, string? identity, string? clientId, string? remote, string? listener, ReasonCode reasonCode, string detail) =>
        _audit.Write(new AuditEvent(_time.GetUtcNow(), kind, identity, clientId, remote, listener, (byte)reasonCode, detail));
}
