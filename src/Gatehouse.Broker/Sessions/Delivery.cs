using Gatehouse.Broker.Subscriptions;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Storage;

namespace Gatehouse.Broker.Sessions;

/// <summary>One message on its way to one session, with what this session's subscriptions made of it.</summary>
public sealed class Delivery(ApplicationMessage message, QoS qos, bool retain, List<uint>? subscriptionIdentifiers, ShareGroup? shareGroup)
{
    public ApplicationMessage Message { get; } = message;
    /// <summary>The message's QoS downgraded to the subscription's maximum [MQTT-3.8.4-8].</summary>
    public QoS QoS { get; } = qos;
    public bool Retain { get; } = retain;
    public List<uint>? SubscriptionIdentifiers { get; } = subscriptionIdentifiers;
    /// <summary>Set when the message came through a shared subscription, so it can move to another member.</summary>
    public ShareGroup? ShareGroup { get; } = shareGroup;

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
