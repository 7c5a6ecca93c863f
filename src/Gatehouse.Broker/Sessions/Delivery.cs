using Gatehouse.Broker.Subscriptions;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Storage;

namespace Gatehouse.Broker.Sessions;

/// <summary>One message on its way to one session, with what this session's subscriptions made of it.</summary>
/// <remarks>
/// Immutable while in use. The router reuses the shared forms of a QoS 0 message that nothing kept once it was sent
/// (<see cref="RecycledMessages"/>): that is what the internal setters and <see cref="Reuse"/> are for.
/// </remarks>
public sealed class Delivery
{
    public Delivery(ApplicationMessage message, QoS qos, bool retain, List<uint>? subscriptionIdentifiers, ShareGroup? shareGroup)
    {
        Message = message;
        QoS = qos;
        Retain = retain;
        SubscriptionIdentifiers = subscriptionIdentifiers;
        ShareGroup = shareGroup;
    }

    /// <summary>An empty delivery for the router's pool (see <see cref="Reuse"/>).</summary>
    internal Delivery() => Message = null!;

    public ApplicationMessage Message { get; private set; }
    /// <summary>The message's QoS downgraded to the subscription's maximum [MQTT-3.8.4-8].</summary>
    public QoS QoS { get; private set; }
    public bool Retain { get; private set; }
    public List<uint>? SubscriptionIdentifiers { get; private set; }
    /// <summary>Set when the message came through a shared subscription, so it can move to another member.</summary>
    public ShareGroup? ShareGroup { get; private set; }

    /// <summary>Makes a delivery nobody holds any more into a shared form of <paramref name="message"/> (null: empties it).</summary>
    internal void Reuse(ApplicationMessage? message, QoS qos, bool retain)
    {
        Message = message!;
        QoS = qos;
        Retain = retain;
        SubscriptionIdentifiers = null;
        ShareGroup = null;
        SharedPublish311 = null;
        SharedPublish5 = null;
    }

    /// <summary>
    /// This delivery as a 3.1.1 QoS 0 PUBLISH, built once and then shared by every 3.1.1 connection it is sent to (see
    /// <see cref="OutgoingPublish"/>). Set at most once in practice; a lost race only builds an equal packet twice.
    /// </summary>
    internal PublishPacket? SharedPublish311;

    /// <summary>The same for 5.0 connections, when nothing in the PUBLISH is per recipient (see <see cref="OutgoingPublish"/>).</summary>
    internal PublishPacket? SharedPublish5;

    public QueuedDeliveryRecord ToRecord(string clientId) =>
        new(clientId, QoS, Retain, SubscriptionIdentifiers, ShareGroup is null ? null : TopicRulesShareKey(ShareGroup));

    private static string TopicRulesShareKey(ShareGroup group) => $"{group.Name}/{group.Filter}";
}

/// <summary>A QoS 1/2 delivery that has a packet identifier and waits for the client's acknowledgement.</summary>
public sealed class InflightDelivery(Delivery delivery, ushort packetId)
{
    public Delivery Delivery { get; } = delivery;
    public ushort PacketId { get; } = packetId;
    public DeliveryState State { get; set; } = DeliveryState.AwaitingAck;
    /// <summary>Position in the session's send order (packet ids wrap, so they cannot give it).</summary>
    public long Sequence { get; init; }
    /// <summary>The store submission of <see cref="State"/> (persistent sessions; null once known durable).</summary>
    public Task? Durable { get; set; }
}
