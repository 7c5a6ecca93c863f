using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Gatehouse.Broker.Diagnostics;
using Gatehouse.Broker.Sessions;
using Gatehouse.Broker.Subscriptions;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Security;
using Gatehouse.Storage;

namespace Gatehouse.Broker.Routing;

/// <summary>
/// Owns the subscription index and turns one published message into deliveries: one per session whatever the number
/// of its matching subscriptions (highest QoS, every subscription identifier), plus one per shared group.
/// </summary>
public sealed class Router(BrokerContext context)
{
    // Shared groups live in the tree under a key no client id can take (client ids cannot contain U+0000).
    private const string ShareKeyPrefix = "\0share\0";

    private readonly TopicTree<string, RouteTarget> _tree = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ShareGroup> _groups = new(StringComparer.Ordinal);
    private readonly Lock _groupLock = new();

    // Reused per thread so routing a message allocates no collections; taken while in use, so a publish nested in a
    // delivery (none today) would get its own instead of clearing the outer one's.
    [ThreadStatic] private static RoutingScratch? t_scratch;

    public int SubscriptionCount => _tree.Count;

    /// <summary>Adds or replaces a subscription in the index. <paramref name="shareName"/> is null for ordinary ones.</summary>
    public void Subscribe(Subscription subscription, string? shareName, string filter)
    {
        if (shareName is null)
        {
            _tree.AddOrReplace(filter, subscription.Session.ClientId, subscription);
            return;
        }
        lock (_groupLock)
        {
            var key = shareName + "\0" + filter;
            if (!_groups.TryGetValue(key, out var group))
            {
                group = new ShareGroup(shareName, filter);
                _groups[key] = group;
                _tree.AddOrReplace(filter, ShareKeyPrefix + key, group);
            }
            group.AddOrReplace(subscription);
        }
    }

    public void Unsubscribe(Session session, string? shareName, string filter)
    {
        if (shareName is null)
        {
            _tree.Remove(filter, session.ClientId);
            return;
        }
        lock (_groupLock)
        {
            var key = shareName + "\0" + filter;
            if (!_groups.TryGetValue(key, out var group)) return;
            group.Remove(session);
            if (!group.IsEmpty) return;
            _groups.TryRemove(key, out _);
            _tree.Remove(filter, ShareKeyPrefix + key);
        }
    }

    public ShareGroup? FindGroup(string shareName, string filter) =>
        _groups.TryGetValue(shareName + "\0" + filter, out var group) ? group : null;

    /// <summary>
    /// Delivers <paramref name="message"/> to every matching session. Queue entries of persistent sessions are
    /// submitted to the store (body once) before the in-memory deliveries, so a later acknowledgement's removal is
    /// always submitted after them. Returns the number of sessions reached. <paramref name="decoded"/> is the PUBLISH the
    /// message came in, if any: it already is the 3.1.1 wire form of a QoS 0 delivery with the same Retain flag.
    /// <paramref name="accepted"/> is its publisher's QoS 2 packet id when that session is persistent: it is stored with
    /// the queue entries, in one operation (see <see cref="IBrokerStore.Enqueue"/>), or alone when there are none.
    /// </summary>
    public int Publish(ApplicationMessage message, ref DurabilityBarrier barrier, PublishPacket? decoded = null, AcceptedQoS2? accepted = null) =>
        Publish(message, ref barrier, decoded, accepted, out _);

    /// <summary>
    /// As <see cref="Publish(ApplicationMessage, ref DurabilityBarrier, PublishPacket?, AcceptedQoS2?)"/>.
    /// <paramref name="onlySent"/> is true when <paramref name="decoded"/> is a recycled packet (see
    /// <see cref="RecycledMessages"/>) and routing left it with no holder but the writers' queues it was sent to: every
    /// delivery was sent at once as that very packet, and none was queued, stored or given a PUBLISH of its own. The
    /// recycled deliveries are then back in their pool, and the caller may reuse the message and the packet.
    /// </summary>
    public int Publish(ApplicationMessage message, ref DurabilityBarrier barrier, PublishPacket? decoded, AcceptedQoS2? accepted, out bool onlySent)
    {
        var reached = Route(message, ref barrier, decoded, ref accepted, out onlySent);
        // No persistent session queued it: nothing of the message can be lost with the id (a retained copy was submitted
        // before it, so a crash between the two leaves the id unknown and the resent PUBLISH retains it again).
        if (accepted is { } alone) barrier.Add(context.Store.AddIncomingQoS2(alone.ClientId, alone.PacketId));
        return reached;
    }

    private int Route(ApplicationMessage message, ref DurabilityBarrier barrier, PublishPacket? decoded, ref AcceptedQoS2? accepted,
        out bool onlySent)
    {
        // Set only once routing is through: an exception leaves everything to the collector.
        onlySent = false;
        var recycling = decoded is { IsPooled: true };
        var scratch = t_scratch ?? new RoutingScratch();
        t_scratch = null;
        var shared = new SharedDeliveries(message, decoded, recycling ? context.Recycled : null);
        try
        {
            var matches = scratch.Matches;
            _tree.Match(message.Topic, matches);
            if (matches.Count == 0)
            {
                onlySent = recycling;
                return 0;
            }
            var deliveries = scratch.Deliveries;
            if (matches.Count == 1 && matches[0] is Subscription only)
            {
                // One plain subscription (the common case): nothing to merge, so no per-session plan.
                if (PlannedDelivery.Excludes(only, message))
                {
                    onlySent = recycling;
                    return 0;
                }
                var planned = new PlannedDelivery();
                planned.Merge(only, message);
                deliveries.Add((only.Session, shared.For(planned)));
                return DeliverAll(message, deliveries, ref barrier, ref accepted, recycling ? decoded : null, out onlySent);
            }
            var plan = scratch.Plan;
            foreach (var target in matches)
            {
                if (target is not Subscription subscription || PlannedDelivery.Excludes(subscription, message)) continue;
                CollectionsMarshal.GetValueRefOrAddDefault(plan, subscription.Session, out _).Merge(subscription, message);
            }
            foreach (var (session, planned) in plan) deliveries.Add((session, shared.For(planned)));
            foreach (var target in matches)
            {
                // Each shared group gets its own copy, independent of the member's other subscriptions.
                if (target is ShareGroup group && group.Pick() is { } member) deliveries.Add((member.Session, CreateDelivery(member, message, group)));
            }
            return DeliverAll(message, deliveries, ref barrier, ref accepted, recycling ? decoded : null, out onlySent);
        }
        finally
        {
            scratch.Clear();
            t_scratch = scratch;
            // Nothing holds the shared forms now: they go back (a thrown exception leaves them to the collector).
            if (onlySent) shared.Recycle();
        }
    }

    /// <summary>
    /// Gives shared-subscription messages a member left unacknowledged to other members of their groups. Each is queued
    /// for the new member before it is removed from the leaver's stored queue: a crash between the two can duplicate
    /// it (allowed for QoS 1, and a QoS 2 message moves only unsent), never lose it. A session still alive takes back a
    /// message whose group lost its other members meanwhile; an ended one's messages end with it.
    /// </summary>
    public void Redeliver(IReadOnlyList<Delivery> orphans, Session leaving)
    {
        var stored = leaving.IsPersistent && !leaving.Ended;
        foreach (var orphan in orphans)
        {
            // An expired message is dropped [MQTT-3.3.2-5]; the others go to another member, or stay.
            if (orphan.ShareGroup is { } group && !orphan.Message.IsExpired(context.Now))
            {
                if (group.Pick(exclude: leaving) is not { } member)
                {
                    if (!leaving.Ended) leaving.Deliver(orphan);
                    continue;
                }
                var barrier = new DurabilityBarrier();
                DeliverAll(orphan.Message, [(member.Session, CreateDelivery(member, orphan.Message, group))], ref barrier);
            }
            if (stored) context.Store.RemoveDelivery(leaving.ClientId, orphan.Message.Id).Forget();
        }
    }

    /// <summary>A delivery to one session through one subscription (used for retained messages on subscribe).</summary>
    public static Delivery CreateDelivery(Subscription subscription, ApplicationMessage message, ShareGroup? group, bool retain = false)
    {
        var qos = (QoS)Math.Min((byte)message.QoS, (byte)subscription.MaximumQoS);
        List<uint>? ids = subscription.SubscriptionIdentifier is { } id ? [id] : null;
        return new Delivery(message, qos, retain || (subscription.RetainAsPublished && message.Retain), ids, group);
    }

    public int DeliverAll(ApplicationMessage message, List<(Session Session, Delivery Delivery)> deliveries, ref DurabilityBarrier barrier)
    {
        AcceptedQoS2? none = null;
        return DeliverAll(message, deliveries, ref barrier, ref none, recycled: null, out _);
    }

    /// <summary>
    /// Queues the message for the persistent sessions among <paramref name="deliveries"/> (one store operation, which also
    /// carries <paramref name="accepted"/>; it is then cleared) and hands each session its delivery.
    /// <paramref name="onlySent"/> is true only for a <paramref name="recycled"/> packet that every delivery was sent as at
    /// once, with nothing else keeping the message (see
    /// <see cref="Publish(ApplicationMessage, ref DurabilityBarrier, PublishPacket?, AcceptedQoS2?, out bool)"/>).
    /// </summary>
    private int DeliverAll(ApplicationMessage message, List<(Session Session, Delivery Delivery)> deliveries, ref DurabilityBarrier barrier,
        ref AcceptedQoS2? accepted, PublishPacket? recycled, out bool onlySent)
    {
        if (context.Security is { } security) RemoveUnauthorized(security, message.Topic, deliveries);
        // Sized exactly (one entry for a single subscriber): a growing list cost each message its own object and an array
        // of four.
        var stored = 0;
        foreach (var (session, delivery) in deliveries)
        {
            if (IsStored(session, delivery)) stored++;
        }
        QueuedDeliveryRecord[]? records = null;
        if (stored > 0)
        {
            records = new QueuedDeliveryRecord[stored];
            var next = 0;
            foreach (var (session, delivery) in deliveries)
            {
                if (next < records.Length && IsStored(session, delivery)) records[next++] = delivery.ToRecord(session.ClientId);
            }
            // A session whose expiry a reconnect changed between the two passes: never a null entry.
            if (next < records.Length) Array.Resize(ref records, next);
            barrier.Add(context.Store.Enqueue(message, records, accepted));
            accepted = null;
        }
        var reached = 0;
        var sent = 0;
        var kept = records is not null;
        foreach (var (session, delivery) in deliveries)
        {
            var outcome = session.Deliver(delivery, out var room);
            if (outcome is DeliveryOutcome.Accepted or DeliveryOutcome.Sent)
            {
                reached++;
                if (outcome == DeliveryOutcome.Sent) sent++;
                else kept = true;
                // Never wait on the publisher's own queue: its deliveries are behind that very acknowledgement.
                if (room is not null && session.ClientId != message.PublisherClientId) barrier.AddBackpressure(room);
                continue;
            }
            if (outcome == DeliveryOutcome.QueueFull) barrier.AddRefused();
            if (records is not null && session.IsPersistent) context.Store.RemoveDelivery(session.ClientId, message.Id).Forget();
        }
        // Each send put either the recycled packet into a writer's queue (counted by the packet) or a PUBLISH built from
        // the message (not counted): equal counts mean the writers' queues hold the packet and nothing holds the rest.
        // Only this thread sends the packet while it is routed: no delivery of it was queued for another to send.
        onlySent = recycled is not null && !kept && recycled.Sends == sent;
        return reached;
    }

    /// <summary>Whether a delivery is written to the store: one to a persistent session, QoS 0 only when configured so.</summary>
    private bool IsStored(Session session, Delivery delivery) =>
        session.IsPersistent && (delivery.QoS != QoS.AtMostOnce || context.Options.QueueQoS0WhenOffline);

    /// <summary>
    /// Per-delivery read check: a subscription granted through a wildcard ("#", "+/secrets") never yields a topic the
    /// session's identity may not read, and ACL changes apply to existing subscriptions at once. Decisions are cached
    /// per principal and topic (bounded, discarded when the rules change).
    /// </summary>
    private static void RemoveUnauthorized(IBrokerSecurity security, string topic, List<(Session Session, Delivery Delivery)> deliveries)
    {
        for (var i = deliveries.Count - 1; i >= 0; i--)
        {
            var session = deliveries[i].Session;
            var principal = session.Principal ??= security.RecallPrincipal(session.OwnerIdentity, session.ClientId);
            if (!security.MayReceive(principal, topic)) deliveries.RemoveAt(i);
        }
    }

    private sealed class RoutingScratch
    {
        public readonly List<RouteTarget> Matches = [];
        public readonly Dictionary<Session, PlannedDelivery> Plan = [];
        public readonly List<(Session Session, Delivery Delivery)> Deliveries = [];

        public void Clear()
        {
            Matches.Clear();
            Plan.Clear();
            Deliveries.Clear();
        }
    }
}
