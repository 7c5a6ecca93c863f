using System.Diagnostics;
using Gatehouse.Broker.Channel;
using Gatehouse.Broker.Diagnostics;
using Gatehouse.Broker.Routing;
using Gatehouse.Broker.Timers;
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
    // Written under _lock, read without it.
    private readonly SessionTable _sessions = new();
    private readonly Lock _lock = new();
    // Offline sessions by their next deadline (a delayed will, the session's expiry), guarded by _lock. A sweep looks
    // only at the entries that are due, so a million sessions waiting for their clients cost nothing between deadlines,
    // and a timer set for the earliest one publishes a will or ends a session when it is due [MQTT-3.1.3-9]
    // [MQTT-3.1.2-23], not up to a housekeeping tick later. A session's entry is not removed when it reconnects or its
    // deadline moves: every entry reached is checked against the session as it is then (see Sweep).
    private readonly PriorityQueue<Session, DateTimeOffset> _deadlines = new();
    // The earliest entry of each session that still waits: a later deadline needs no entry of its own (the earlier one,
    // when reached, queues the session again at its deadline then), so a client that reconnects often adds none. A
    // session that reconnects or ends leaves this map; its entries go stale, and once they outnumber the live ones the
    // queue is rebuilt from this map, so sessions ended long before their deadline are not kept until it.
    private readonly Dictionary<Session, DateTimeOffset> _earliestQueued = new(ReferenceEqualityComparer.Instance);
    private ITimer? _timer;
    private DateTimeOffset _timerDue = DateTimeOffset.MaxValue;
    private bool _stopped;
    private readonly ILogger _log = context.LoggerFactory.CreateLogger("Gatehouse.Sessions");

    public int Count => _sessions.Count;

    /// <summary>Entries in the deadline queue, stale ones included (tests check that they stay bounded).</summary>
    internal int QueuedDeadlines
    {
        get
        {
            lock (_lock) return _deadlines.Count;
        }
    }

    /// <summary>Offline sessions waiting for a deadline.</summary>
    internal int WaitingSessions
    {
        get
        {
            lock (_lock) return _earliestQueued.Count;
        }
    }

    /// <summary>Every session, enumerated in place (no lock, no copy).</summary>
    public IEnumerable<Session> All => _sessions.All;

    public Session? Find(string clientId) => _sessions.Find(clientId);

    /// <summary>
    /// Binds a connecting client to its session. An existing connection with the same client id is taken over
    /// [MQTT-3.1.4-3]; Clean Start discards the old session [MQTT-3.1.2-4], otherwise it is resumed [MQTT-3.1.2-5].
    /// With security on, only the identity that owns the session may do either: for anyone else the result is a null
    /// session (refused with 0x85, audited) and the owner's connection is left alone.
    /// </summary>
    public (Session? Session, bool Present) Connect(MqttChannel channel, string clientId, bool cleanStart, uint expiryInterval,
        ProtocolVersion version, ref DurabilityBarrier barrier)
    {
        while (true)
        {
            var result = ConnectLocked(channel, clientId, cleanStart, expiryInterval, version, ref barrier, out var will);
            if (will is null) return result;
            // A stored will this connection sends out (its session ends [MQTT-3.1.3-9], or its delay has passed) is taken
            // first and published outside the lock; only the next pass ends or resumes the session. So the store gets the
            // will's queue entries before the session's deletion or its will-less record, and a crash between the two
            // publishes the will again after the restart rather than never.
            publishWill(will);
        }
    }

    private (Session? Session, bool Present) ConnectLocked(MqttChannel channel, string clientId, bool cleanStart, uint expiryInterval,
        ProtocolVersion version, ref DurabilityBarrier barrier, out ApplicationMessage? willFirst)
    {
        willFirst = null;
        lock (_lock)
        {
            var present = false;
            var principal = channel.Principal;
            if (_sessions.Find(clientId) is { } existing)
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
                    // Ended or claimed again below, under the same lock: no deadline to wait for.
                    existing.Detach(previous);
                    previous.DisconnectByServer(ReasonCode.SessionTakenOver);
                }
                // A session with expiry 0 (3.1.1 clean session) lasts as long as its network connection, and a takeover
                // has just ended that connection [MQTT-3.1.2-6] [MQTT-3.1.2-23]: it is not resumed even without Clean
                // Start, whether or not the old connection's DISCONNECT was handled first.
                // A session whose expiry has passed is over even if no sweep has ended it yet [MQTT-3.1.2-23]: the
                // client finds none, and its will (if still pending) goes out as the session ends.
                var now = context.Now;
                var ends = cleanStart || !existing.IsPersistent || (!existing.IsConnected && existing.ExpiresAt <= now);
                // A delayed will whose delay has already passed is published, not cancelled by this connection: only a
                // connection made within the delay cancels it [MQTT-3.1.3-9]. Clients test it to the millisecond.
                if (existing.PendingWill is not null && (ends || existing.PendingWillAt <= now))
                {
                    willFirst = existing.TakePendingWill();
                    return (null, false);
                }
                if (ends)
                {
                    EndLocked(existing, ref barrier);
                }
                else
                {
                    existing.ProtocolVersion = version;
                    existing.ExpiryInterval = expiryInterval;
                    existing.Claim(channel);
                    _earliestQueued.Remove(existing);
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
            _sessions.Set(session);
            Persist(session, ref barrier);
            return (session, present);
        }
    }

    /// <summary>
    /// Mirrors the session's existence to the store: saved while persistent (with the will of the connection that holds
    /// it, see <see cref="Session.ToRecord"/>), deleted once it no longer is. A session that ends with its connection is
    /// not stored, its will neither: a crash ends that session, as a restart does.
    /// </summary>
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
            if (present)
            {
                ScheduleLocked(session);
                return;
            }
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
        var finishAfterWill = false;
        lock (_lock)
        {
            var wasCurrent = session.Detach(channel);
            if (!wasCurrent)
            {
                // Taken over: if the session was resumed, a delayed will is cancelled; an immediate one still goes.
                if (will is not null && (willDelay == 0 || session.Ended || _sessions.Find(session.ClientId) is null)) publishNow = will;
            }
            else if (session.Stored && will is not null && (willDelay == 0 || !session.IsPersistent))
            {
                // The store holds this will (armed, see Session.ToRecord) and it goes out now: it is published first, and
                // only then is the session's end or its will-less record submitted (FinishAfterWillLocked), so a crash
                // between the two publishes the will again after the restart rather than never. (Not persistent but
                // stored: its expiry was set to 0 by DISCONNECT, so the session ends now.)
                publishNow = will;
                finishAfterWill = true;
                if (session.IsPersistent)
                {
                    ScheduleLocked(session);
                    orphans = session.TakeUnacknowledgedShared();
                }
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
                            session.DelayWill(will, context.Now.AddSeconds(Math.Min(willDelay, session.ExpiryInterval)));
                        }
                    }
                    ScheduleLocked(session);
                    // Shared-subscription messages this member had not acknowledged go to another member now.
                    orphans = session.TakeUnacknowledgedShared();
                    Persist(session, ref barrier);
                }
            }
        }
        if (orphans is { Count: > 0 }) router.Redeliver(orphans, session);
        if (publishNow is null) return;
        try
        {
            publishWill(publishNow);
        }
        finally
        {
            if (finishAfterWill)
            {
                lock (_lock) FinishAfterWillLocked(session, context.Now);
            }
        }
    }

    /// <summary>
    /// Publishes the wills whose delay has passed and ends the sessions that expired: the queue's due entries, a bounded
    /// number per hold of the lock so connects are not kept waiting behind a mass expiry. Run by the deadline timer and,
    /// as a safety net, by every housekeeping tick.
    /// </summary>
    public void Sweep(DateTimeOffset now)
    {
        const int PerLock = 256;
        List<ApplicationMessage>? wills = null;
        List<Session>? afterWills = null;
        var more = true;
        while (more)
        {
            lock (_lock)
            {
                for (var taken = 0; ; taken++)
                {
                    if (!_deadlines.TryPeek(out var session, out var due) || due > now)
                    {
                        more = false;
                        break;
                    }
                    if (taken == PerLock) break;
                    _deadlines.Dequeue();
                    if (_earliestQueued.TryGetValue(session, out var earliest) && earliest == due) _earliestQueued.Remove(session);
                    RunDeadlinesLocked(session, now, ref wills, ref afterWills);
                }
                ArmTimerLocked();
            }
        }
        if (wills is null) return;
        try
        {
            foreach (var will in wills) publishWill(will);
        }
        finally
        {
            // Even if a publish failed: an expired session left waiting here would otherwise never end.
            if (afterWills is not null)
            {
                lock (_lock)
                {
                    foreach (var session in afterWills) FinishAfterWillLocked(session, now);
                }
            }
        }
    }

    /// <summary>
    /// The second step for a session whose will <see cref="Sweep"/> or <see cref="Disconnected"/> has just published: only
    /// now is the will's removal (or the session's end) submitted to the store, after the will's queue entries, so a crash
    /// between the two publishes the will again rather than never. Nothing to do if the session was claimed again or
    /// ended meanwhile.
    /// </summary>
    private void FinishAfterWillLocked(Session session, DateTimeOffset now)
    {
        if (session.Ended || session.Owner is not null || !ReferenceEquals(_sessions.Find(session.ClientId), session))
            return;
        if (!session.IsPersistent)
        {
            // Its expiry was set to 0 at DISCONNECT: it lasts no longer than its connection [MQTT-3.1.2-6].
            var ending = new DurabilityBarrier();
            EndLocked(session, ref ending);
            return;
        }
        if (session.ExpiresAt is { } expires && expires <= now)
        {
            ExpireLocked(session);
            return;
        }
        var barrier = new DurabilityBarrier();
        Persist(session, ref barrier);
        ScheduleLocked(session);
    }

    /// <summary>Ends a session whose expiry has passed (its will, if any, already taken and published).</summary>
    private void ExpireLocked(Session session)
    {
        _log.LogInformation("Session {ClientId} expired", session.ClientId);
        var barrier = new DurabilityBarrier();
        EndLocked(session, ref barrier);
    }

    /// <summary>
    /// What is due for one queued session; then queues it again for its next deadline, if it has one. A will that goes
    /// out now (its delay passed, or the session expired [MQTT-3.1.3-9]) is taken and the rest is left to
    /// <see cref="FinishAfterWillLocked"/>, once the will is published.
    /// </summary>
    private void RunDeadlinesLocked(Session session, DateTimeOffset now, ref List<ApplicationMessage>? wills, ref List<Session>? afterWills)
    {
        // Reconnected or gone since it was queued: nothing waits any more.
        if (session.IsConnected || session.Ended) return;
        var expired = session.ExpiresAt is { } expires && expires <= now;
        if (session.PendingWill is not null && (session.PendingWillAt <= now || expired))
        {
            (wills ??= []).Add(session.TakePendingWill()!);
            (afterWills ??= []).Add(session);
            return;
        }
        if (expired)
        {
            ExpireLocked(session);
            return;
        }
        ScheduleLocked(session);
    }

    /// <summary>Queues an offline session for its next deadline: its delayed will or its expiry, whichever is first.</summary>
    private void ScheduleLocked(Session session)
    {
        if (session.IsConnected || session.Ended) return;
        DateTimeOffset? willAt = session.PendingWill is null ? null : session.PendingWillAt;
        var expiresAt = session.ExpiresAt;
        if ((willAt ?? expiresAt) is not { } next) return;
        if (expiresAt is { } expiry && expiry < next) next = expiry;
        // An earlier entry of the session is already queued: it runs first and queues the session again then.
        if (_earliestQueued.TryGetValue(session, out var earliest) && earliest <= next) return;
        _earliestQueued[session] = next;
        _deadlines.Enqueue(session, next);
        if (_deadlines.Count > 2 * _earliestQueued.Count + 1024) CompactLocked();
        ArmTimerLocked();
    }

    /// <summary>Drops the stale entries: the queue keeps only each waiting session's earliest deadline.</summary>
    private void CompactLocked()
    {
        _deadlines.Clear();
        foreach (var (session, at) in _earliestQueued) _deadlines.Enqueue(session, at);
    }

    /// <summary>Sets the deadline timer for the earliest queued entry, unless it is already set for that or earlier.</summary>
    private void ArmTimerLocked()
    {
        if (_stopped || !_deadlines.TryPeek(out _, out var next) || next >= _timerDue) return;
        _timerDue = next;
        _timer ??= context.Time.CreateTimer(static state => ((SessionManager)state!).OnDeadline(), this,
            Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        var delay = next - context.Now;
        // A little early on the system clock: OnDeadline waits out the rest, so a will goes out on time (TimerPrecision).
        if (TimerPrecision.Applies(context.Time)) delay -= TimerPrecision.Lead;
        _timer.Change(delay > TimeSpan.Zero ? delay : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    private void OnDeadline()
    {
        DateTimeOffset due;
        lock (_lock) due = _timerDue;
        // Armed early (ArmTimerLocked): the deadline it was armed for is still a few milliseconds away. Meanwhile a later
        // deadline does not re-arm the timer (it is not earlier than _timerDue); the sweep below arms it.
        if (due != DateTimeOffset.MaxValue && TimerPrecision.Applies(context.Time)) TimerPrecision.WaitUntil(context.Time, due);
        // The timer is free again: the sweep sets it for whatever is next (at once if its clock is a little behind the timer's).
        lock (_lock) _timerDue = DateTimeOffset.MaxValue;
        try
        {
            Sweep(context.Now);
        }
        catch (Exception ex)
        {
            _log.LogError(ex, "Session deadline sweep failed");
        }
    }

    /// <summary>Stops the deadline timer (broker shutdown); what is still queued is recovered from the store on the next start.</summary>
    public void Stop()
    {
        lock (_lock)
        {
            _stopped = true;
            _timer?.Dispose();
            _timer = null;
        }
    }

    /// <summary>Removes expired queued messages from every session (memory and store). Returns how many.</summary>
    public int PurgeExpiredMessages(DateTimeOffset now)
    {
        var removed = 0;
        foreach (var session in _sessions.All) removed += session.PurgeExpired(now);
        return removed;
    }

    /// <summary>Adds a session recovered from the store (start-up).</summary>
    public void Restore(Session session)
    {
        lock (_lock)
        {
            _sessions.Set(session);
            ScheduleLocked(session);
        }
    }

    /// <summary>
    /// Ends the session. A stored will it had was taken and published before (<see cref="Connect"/>, <see cref="Sweep"/>):
    /// its deletion must reach the store after the will's queue entries.
    /// </summary>
    private void EndLocked(Session session, ref DurabilityBarrier barrier)
    {
        Debug.Assert(session.PendingWill is null, "a session's will is published before the session ends");
        _earliestQueued.Remove(session);
        var orphans = session.End();
        if (session.TakeSubscriptions() is { } subscriptions)
        {
            foreach (var (_, subscription) in subscriptions)
            {
                var share = TopicRules.TryParseShared(subscription.TopicFilter, out var shareName, out var filter);
                router.Unsubscribe(session, share == ShareParse.Shared ? shareName : null, filter);
            }
        }
        _sessions.Remove(session);
        // Its shared-subscription messages are queued for other members before the session's deletion is submitted:
        // a crash between the two leaves them in both places, never in neither.
        if (orphans is { Count: > 0 }) router.Redeliver(orphans, session);
        if (session.Stored)
        {
            barrier.Add(context.Store.DeleteSession(session.ClientId));
            context.Security?.RememberSessionOwner(session.ClientId, null);
        }
    }
}
