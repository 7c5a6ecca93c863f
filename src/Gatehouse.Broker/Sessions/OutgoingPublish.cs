using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Broker.Sessions;

/// <summary>Builds the PUBLISH one recipient gets for a delivery.</summary>
public static class OutgoingPublish
{
    /// <summary>
    /// The PUBLISH for one recipient. A QoS 0 send with nothing per recipient is built once per delivery and shared by
    /// every recipient of its protocol family, never modified once built: 3.1.1 (and 3.1) have no packet id, DUP or
    /// properties at QoS 0; a 5.0 recipient shares its form when the delivery carries no Subscription Identifier and
    /// no Message Expiry Interval (both per recipient) and the recipient takes no Topic Aliases
    /// (<paramref name="rewritesTopics"/>: the writer puts the alias into the packet). Anything else is built per recipient.
    /// </summary>
    public static PublishPacket Create(Delivery delivery, ushort packetId, bool dup, DateTimeOffset now, ProtocolVersion version,
        bool rewritesTopics = false)
    {
        if (packetId == 0 && !dup && delivery.QoS == QoS.AtMostOnce)
        {
            if (version != ProtocolVersion.V500) return delivery.SharedPublish311 ??= Build(delivery, 0, dup: false, properties: null);
            if (!rewritesTopics && delivery.SubscriptionIdentifiers is not { Count: > 0 } && delivery.Message.ExpiresAt is null)
            {
                return delivery.SharedPublish5 ??= BuildShared5(delivery);
            }
        }
        return Build(delivery, packetId, dup, version == ProtocolVersion.V500 ? CreateProperties(delivery, now) : null);
    }

    /// <summary>
    /// As <see cref="Create(Delivery, ushort, bool, DateTimeOffset, ProtocolVersion)"/>, reading <paramref name="time"/>
    /// only when the PUBLISH carries a remaining Message Expiry Interval (5.0, an expiring message): most sends need no clock.
    /// </summary>
    public static PublishPacket Create(Delivery delivery, ushort packetId, bool dup, TimeProvider time, ProtocolVersion version,
        bool rewritesTopics = false)
    {
        var now = version == ProtocolVersion.V500 && delivery.Message.ExpiresAt is not null ? time.GetUtcNow() : default;
        return Create(delivery, packetId, dup, now, version, rewritesTopics);
    }

    /// <summary>
    /// Lets <paramref name="delivery"/> be sent to 3.1.1 connections as the very PUBLISH its message arrived in, when
    /// that is already its wire form (QoS 0, same Retain flag, topic and payload; 3.1.1 encoding ignores properties), and
    /// to 5.0 connections too when neither the packet nor the message has properties (the shared 5.0 form is then the
    /// same packet). The decoded packet is not used by anyone else once routed, and a shared packet is never modified.
    /// </summary>
    public static void AdoptDecoded(Delivery delivery, PublishPacket decoded)
    {
        var message = delivery.Message;
        if (delivery.QoS != QoS.AtMostOnce || decoded.QoS != QoS.AtMostOnce || decoded.Dup || decoded.PacketId != 0
            || decoded.Retain != delivery.Retain || !ReferenceEquals(decoded.Topic, message.Topic)
            || !decoded.Payload.Equals(message.Payload)) return;
        delivery.SharedPublish311 = decoded;
        if (decoded.Properties is null && message.Properties is null && message.ExpiresAt is null) delivery.SharedPublish5 = decoded;
    }

    private static PublishPacket Build(Delivery delivery, ushort packetId, bool dup, MqttProperties? properties)
    {
        var message = delivery.Message;
        return new PublishPacket
        {
            Topic = message.Topic,
            Payload = message.Payload,
            QoS = delivery.QoS,
            Retain = delivery.Retain,
            Dup = dup,
            PacketId = packetId,
            Properties = properties,
        };
    }

    /// <summary>
    /// The shared 5.0 QoS 0 form: the message's forwardable properties as they are (nothing is added per recipient and
    /// the packet is never modified, so they need no copy), and the topic's UTF-8 form from the message's arriving
    /// PUBLISH when it was adopted as the 3.1.1 form, so each recipient's encoding copies bytes.
    /// </summary>
    private static PublishPacket BuildShared5(Delivery delivery)
    {
        var packet = Build(delivery, 0, dup: false, delivery.Message.Properties);
        if (delivery.SharedPublish311 is { } arrived) packet.CopyTopicFrom(arrived);
        return packet;
    }

    private static MqttProperties? CreateProperties(Delivery delivery, DateTimeOffset now)
    {
        var message = delivery.Message;
        var expiry = message.RemainingExpirySeconds(now);
        var hasSubscriptionIds = delivery.SubscriptionIdentifiers is { Count: > 0 };
        if (message.Properties is null && expiry is null && !hasSubscriptionIds) return null;
        var properties = message.Properties?.Clone() ?? new MqttProperties();
        // The remaining lifetime, not the original interval [MQTT-3.3.2-6].
        properties.MessageExpiryInterval = expiry;
        // Every matching subscription's identifier [MQTT-3.3.4-3], [MQTT-3.3.4-5].
        if (hasSubscriptionIds) properties.SubscriptionIdentifiers = delivery.SubscriptionIdentifiers;
        return properties;
    }
}
