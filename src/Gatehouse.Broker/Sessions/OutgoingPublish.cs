using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Broker.Sessions;

/// <summary>Builds the PUBLISH one recipient gets for a delivery.</summary>
public static class OutgoingPublish
{
    public static PublishPacket Create(Delivery delivery, ushort packetId, bool dup, DateTimeOffset now, ProtocolVersion version)
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
            Properties = version == ProtocolVersion.V500 ? CreateProperties(delivery, now) : null,
        };
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
