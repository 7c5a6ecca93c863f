using Gatehouse.Protocol;

namespace Gatehouse.Storage;

/// <summary>
/// What the broker persists. The broker keeps its working state in memory and mirrors every durable change here.
/// Each method only submits the change and returns a task that completes when it is durable: the broker calls it
/// under its session locks (submission order is commit order) and awaits the task outside them, sending the
/// acknowledgement (CONNACK, SUBACK, PUBACK, PUBREC, ...) only then. A durable store batches submissions from all
/// connections into one transaction (group commit); the memory store completes at once.
/// Only sessions that outlive their connection are ever submitted; clean sessions never touch the store.
/// A store reports its own failures (logged once per failed batch) and marks the tasks it fails observed, so the broker
/// may submit a change without waiting for it (e.g. the removal after a PUBACK) at no cost per submission.
/// </summary>
public interface IBrokerStore : IAsyncDisposable
{
    /// <summary>Everything persisted, for recovery at start-up.</summary>
    ValueTask<StoreSnapshot> LoadAsync(CancellationToken cancellationToken);

    /// <summary>Creates or updates a session: existence, expiry, pending will.</summary>
    ValueTask SaveSession(SessionRecord session);

    /// <summary>Removes a session with its subscriptions, queue and packet-id state.</summary>
    ValueTask DeleteSession(string clientId);

    ValueTask SaveSubscription(string clientId, SubscriptionRecord subscription);

    ValueTask DeleteSubscription(string clientId, string topicFilter);

    /// <summary>
    /// Adds one message to the queues of several sessions; the body is stored once. <paramref name="accepted"/>, the QoS 2
    /// packet id the message was published with, is recorded in the same transaction (as <see cref="AddIncomingQoS2"/>
    /// would): after a crash the store holds both or neither, so the PUBLISH its publisher resends is either known, and
    /// not routed again, or routed anew; never known while the queue entries are lost [MQTT-4.3.3-10].
    /// </summary>
    ValueTask Enqueue(ApplicationMessage message, IReadOnlyList<QueuedDeliveryRecord> deliveries, AcceptedQoS2? accepted = null);

    /// <summary>Records the outbound state of a queued delivery (packet id assigned, PUBREC received).</summary>
    ValueTask UpdateDelivery(string clientId, long messageId, ushort packetId, DeliveryState state);

    /// <summary>The delivery is complete (PUBACK, PUBCOMP) or dropped; the body goes when no queue holds it.</summary>
    ValueTask RemoveDelivery(string clientId, long messageId);

    /// <summary>Stores or replaces the retained message of its topic.</summary>
    ValueTask SaveRetained(ApplicationMessage message);

    ValueTask DeleteRetained(string topic);

    /// <summary>An incoming QoS 2 packet id was accepted (before PUBREC): a resent PUBLISH with it is not routed again.</summary>
    ValueTask AddIncomingQoS2(string clientId, ushort packetId);

    /// <summary>PUBREL arrived (before PUBCOMP).</summary>
    ValueTask RemoveIncomingQoS2(string clientId, ushort packetId);
}

public enum DeliveryState : byte
{
    /// <summary>Queued, not yet sent (no packet id).</summary>
    Queued = 0,
    /// <summary>PUBLISH sent, waiting for PUBACK (QoS 1) or PUBREC (QoS 2).</summary>
    AwaitingAck = 1,
    /// <summary>PUBREC received and PUBREL sent, waiting for PUBCOMP.</summary>
    AwaitingComp = 2,
}

public sealed record SessionRecord(
    string ClientId,
    ProtocolVersion ProtocolVersion,
    uint ExpiryIntervalSeconds,
    DateTimeOffset? DisconnectedAt,
    WillRecord? PendingWill,
    ArmedWillRecord? ArmedWill = null);

/// <summary>An incoming QoS 2 PUBLISH's packet id in its publisher's session, accepted before PUBREC.</summary>
public readonly record struct AcceptedQoS2(string ClientId, ushort PacketId);

/// <summary>A will waiting for its delay after its client's connection closed: published at <see cref="PublishAt"/>.</summary>
public sealed record WillRecord(ApplicationMessage Message, DateTimeOffset PublishAt);

/// <summary>
/// The will of a client that is connected, kept with its session so that a broker crash does not lose it: the restarted
/// broker treats the connection as closed at the restart [MQTT-3.1.2-8] and publishes the will after its delay.
/// <see cref="ApplicationMessage.ExpiresAt"/> is null: a will's Message Expiry Interval counts from its publication.
/// </summary>
public sealed record ArmedWillRecord(ApplicationMessage Message, uint DelaySeconds, uint? MessageExpirySeconds);

public sealed record SubscriptionRecord(
    string TopicFilter,
    QoS MaximumQoS,
    bool NoLocal,
    bool RetainAsPublished,
    byte RetainHandling,
    uint? SubscriptionIdentifier);

/// <summary>One session's reference to a stored message, with what its delivery needs.</summary>
public sealed record QueuedDeliveryRecord(
    string ClientId,
    QoS QoS,
    bool Retain,
    IReadOnlyList<uint>? SubscriptionIdentifiers,
    string? ShareGroup);

public sealed record StoredDelivery(QueuedDeliveryRecord Delivery, long MessageId, ushort PacketId, DeliveryState State);

public sealed record StoredSession(
    SessionRecord Session,
    IReadOnlyList<SubscriptionRecord> Subscriptions,
    IReadOnlyList<StoredDelivery> Deliveries,
    IReadOnlyList<ushort> IncomingQoS2);

public sealed record StoreSnapshot(
    IReadOnlyList<StoredSession> Sessions,
    IReadOnlyDictionary<long, ApplicationMessage> Messages,
    IReadOnlyList<ApplicationMessage> Retained);
