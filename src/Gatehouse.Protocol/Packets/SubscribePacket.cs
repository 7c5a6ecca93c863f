namespace Gatehouse.Protocol.Packets;

public sealed class SubscribePacket : MqttPacket
{
    public override PacketType Type => PacketType.Subscribe;

    public ushort PacketId { get; set; }
    public List<TopicSubscription> Subscriptions { get; set; } = [];
    /// <summary>Subscription Identifier (at most one) and User Properties.</summary>
    public MqttProperties? Properties { get; set; }
}

/// <summary>One topic filter of a SUBSCRIBE with its Subscription Options byte decoded.</summary>
public sealed class TopicSubscription
{
    public string TopicFilter { get; set; } = "";
    public QoS MaximumQoS { get; set; }
    public bool NoLocal { get; set; }
    public bool RetainAsPublished { get; set; }
    /// <summary>0 send retained on subscribe, 1 only if the subscription is new, 2 never.</summary>
    public byte RetainHandling { get; set; }
}
