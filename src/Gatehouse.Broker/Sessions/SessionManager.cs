using System.Collections.Concurrent;
using Gatehouse.Broker.Channel;
using Gatehouse.Broker.Diagnostics;
using Gatehouse.Broker.Routing;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Topics;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Broker.Sessions;

/// <summary>
/// Owns every session by client id: creation, resumption, takeover, the end of sessions (expiry, clean start) and
/// the wills that wait for their delay. Connect and disconnect transitions are serialised by one lock; delivery
/// never takes it.
/// </summary>
public sealed class SessionManager(BrokerContext context, Router router, Action<ApplicationMessage> publishWill)
{
    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    // Sessions that may be waiting without a connection (every Detach and every restored session lands here): the sweep
    // looks at these, not at all sessions, and drops those connected again or ended. With 100k connected clients that
    // is the difference between a few and 100k checks every 250 ms.
    private readonly ConcurrentDictionary<Session, byte> _offline = new();
    private readonly Lock _lock = new();
    private readonly ILogger _log = context.LoggerFactory.CreateLogger("Gatehouse.Sessions");

    public int Count => _sessions.Count;

    /// <summary>Every session, enumerated in place (<c>Values</c> would take every lock and copy them all).</summary>
    public IEnumerable<Session> All
    {
        get
        {
            foreach (var pair in _sessions) yield return pair.Value;
        }
    }

    public Session? Find(string clientId) => _sessions.GetValueOrDefault(clientId);

    /// <summary>
    /// Binds a connecting client to its session. An existing connection with the same client id is taken over
    /// [MQTT-3.1.4-3]; Clean Start discards the old session [MQTT-3.1.2-4], otherwise it is resumed [MQTT-3.1.2-5].
    /// With security on, only the identity that owns the session may do either: for anyone else the result is a null
    /// session (refused with 0x85, audited) and the owner's connection is left alone.
    /// </summary>
    public (Session? Session, bool Present) Connect(MqttChannel channel, string clientId, bool cleanStart, uint expiryInterval,
        ProtocolVersion version, ref DurabilityBarrier barrier)
    {
        ApplicationMessage? endedWill = null;
        try
        {
            return ConnectLocked(channel, clientId, cleanStart, expiryInterval, version, ref barrier, ref endedWill);
        }
        finally
        {
            // A Clean Start ends the old session, and with it the wait of its delayed will [MQTT-3.1.3-9].
            if (endedWill is not null) publishWill(endedWill);
        }
    }

    private (Session? Session, bool Present) ConnectLocked(MqttChannel channel, string clientId, bool cleanStart, uint expiryInterval,
        ProtocolVersion version, ref DurabilityBarrier barrier, ref ApplicationMessage? endedWill)
    {
        lock (_lock)
        {
            var present = false;
            var principal = channel.Principal;
            if (_sessions.TryGetValue(clientId, out var existing))
            {
                if (context.Security is { } security && principal is not null
                    && !string.Equals(existing.OwnerIdentity, principal.Identity, StringComparison.Ordinal))
                {
                    _log.LogWarning("Client {ClientId} from {Remote} as {Identity} refused: the session belongs to {Owner}",
                        clientId, channel.RemoteAddress, principal, existing.OwnerIdentity ?? "(anonymous)");
                    security.OnSessionOwnershipRefused(principal, existing.OwnerIdentity);
                    return (null, false);
                }
                if (existing.Owner is { } previous && !ReferenceEquals(previous, channel))
                {
                    _log.LogInformation("Client {ClientId} taken over by a new connection from {Remote}", clientId, channel.RemoteAddress);
                    BrokerMetrics.Add(ref context.Metrics.Takeovers);
                    existing.Detach(previous);
                    _offline.TryAdd(existing, 0);
                    previous.DisconnectByServer(ReasonCode.SessionTakenOver);
                }
                // A session with expiry 0 (3.1.1 clean session) lasts as long as its network connection, and a takeover
                // has just ended that connection [MQTT-3.1.2-6] [MQTT-3.1.2-23]: it is not resumed even without Clean
                // Start, whether or not the old connection's DISCONNECT was handled first.
                if (cleanStart || !existing.IsPersistent)
                {
                    endedWill = EndLocked(existing, ref barrier);
                }
                else
                {
                    existing.ProtocolVersion = version;
                    existing.ExpiryInterval = expiryInterval;
                    existing.Claim(channel);
                    existing.Principal = principal;
                    present = true;
                    Persist(existing, ref barrier);
                    return (existing, present);
                }
            }
            var session = new Session(context, clientId, version, expiryInterval)
            {
                OwnerIdentity = principal?.Identity,
                Principal = principal,
            };
            session.Claim(channel);
            _sessions[clientId] = session;
            Persist(session, ref barrier);
            return (session, present);
        }
    }

    /// <summary>Mirrors the session's existence to the store: saved while persistent, deleted once it no longer is.</summary>
    public void Persist(Session session, ref DurabilityBarrier barrier)
    {
        if (session.IsPersistent)
        {
            session.Stored = true;
            barrier.Add(context.Store.SaveSession(session.ToRecord()));
            context.Security?.RememberSessionOwner(session.ClientId, session.OwnerIdentity);
        }
        else if (session.Stored)
        {
            session.Stored = false;
            barrier.Add(context.Store.DeleteSession(session.ClientId));
            context.Security?.RememberSessionOwner(session.ClientId, null);
        }
    }

    /// <summary>
    /// Undoes <see cref="Connect"/> for a CONNECT that is refused after all (the store could not make the session
    /// durable): a session it created is discarded, so the next CONNECT does not report Session Present; a resumed one
    /// goes back to waiting for its client.
    /// </summary>
    public void Abandon(MqttChannel channel, Session session, bool present)
    {
        lock (_lock)
        {
            if (!session.Detach(channel)) return;
            _offline.TryAdd(session, 0);
            if (present) return;
            var barrier = new DurabilityBarrier();
            EndLocked(session, ref barrier);
        }
    }

    /// <summary>
    /// The connection of <paramref name="channel"/> has closed. A session with expiry 0 ends now; otherwise it waits.
    /// The will goes out now, or when its delay or the session ends, whichever is first [MQTT-3.1.3-9]; not at all if
    /// another connection has already resumed the session within the delay.
    /// </summary>
    public void Disconnected(MqttChannel channel, Session session, ApplicationMessage? will, uint willDelay)
    {
        ApplicationMessage? publishNow = null;
        List<Delivery>? orphans = null;
        lock (_lock)
        {
            var wasCurrent = session.Detach(channel);
            _offline.TryAdd(session, 0);
            if (!wasCurrent)
            {
                // Taken over: if the session was resumed, a delayed will is cancelled; an immediate one still goes.
                if (will is not null && (willDelay == 0 || session.Ended || !_sessions.ContainsKey(session.ClientId))) publishNow = will;
            }
            else
            {
                var barrier = new DurabilityBarrier();
                if (!session.IsPersistent)
                {
                    EndLocked(session, ref barrier);
                    publishNow = will;
                }
                else
                {
                    if (will is not null)
                    {
                        if (willDelay == 0) publishNow = will;
                        else
                        {
                            session.PendingWill = will;
                            session.PendingWillAt = context.Now.AddSeconds(Math.Min(willDelay, session.ExpiryInterval));
                        }
                    }
                    // Shared-subscription messages this member had not acknowledged go to another member now.
                    orphans = session.TakeUnacknowledgedShared();
                    Persist(session, ref barrier);
                }
            }
        }
        if (orphans is { Count: > 0 }) router.Redeliver(orphans, session);
        if (publishNow is not null) publishWill(publishNow);
    }

    /// <summary>Ends expired sessions and publishes wills whose delay has passed.</summary>
    public void Sweep(DateTimeOffset now)
    {
        List<ApplicationMessage>? wills = null;
        foreach (var (session, _) in _offline)
        {
            lock (_lock)
            {
                if (session.IsConnected || session.Ended)
                {
                    // Back with a connection (a later Detach adds it again) or gone.
                    _offline.TryRemove(session, out _);
                    continue;
                }
                if (session.PendingWill is { } will && session.PendingWillAt <= now)
                {
                    (wills ??= []).Add(will);
                    session.PendingWill = null;
                    session.PendingWillAt = null;
                    var willBarrier = new DurabilityBarrier();
                    Persist(session, ref willBarrier);
                }
                if (session.ExpiresAt is { } expires && expires <= now)
                {
                    _log.LogInformation("Session {ClientId} expired", session.ClientId);
                    var barrier = new DurabilityBarrier();
                    if (EndLocked(session, ref barrier) is { } pending) (wills ??= []).Add(pending);
                }
            }
        }
        if (wills is null) return;
        foreach (var will in wills) publishWill(will);
    }

    /// <summary>Removes expired queued messages from every session (memory and store). Returns how many.</summary>
    public int PurgeExpiredMessages(DateTimeOffset now)
    {
        var removed = 0;
        foreach (var (_, session) in _sessions) removed += session.PurgeExpired(now);
        return removed;
    }

    /// <summary>Adds a session recovered from the store (start-up).</summary>
    public void Restore(Session session)
    {
        _sessions[session.ClientId] = session;
        _offline.TryAdd(session, 0);
    }

    /// <summary>Ends the session; returns its pending will, which the caller publishes once the lock is released.</summary>
    private ApplicationMessage? EndLocked(Session session, ref DurabilityBarrier barrier)
    {
        var will = session.PendingWill;
        session.PendingWill = null;
        session.PendingWillAt = null;
        var orphans = session.End();
        if (session.TakeSubscriptions() is { } subscriptions)
        {
            foreach (var (_, subscription) in subscriptions)
            {
                var share = TopicRules.TryParseShared(subscription.TopicFilter, out var shareName, out var filter);
                router.Unsubscribe(session, share == ShareParse.Shared ? shareName : null, filter);
            }
        }
        _sessions.TryRemove(new KeyValuePair<string, Session>(session.ClientId, session));
        if (session.Stored)
        {
            barrier.Add(context.Store.DeleteSession(session.ClientId));
            context.Security?.RememberSessionOwner(session.ClientId, null);
        }
        if (orphans.Count > 0) router.Redeliver(orphans, session);
        return will;
    }
}
