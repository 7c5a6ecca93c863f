namespace Gatehouse.Protocol.Packets;

/// <summary>PUBACK, PUBREC, PUBREL and PUBCOMP share one shape: packet id, reason code, properties.</summary>
public abstract class PublishFlowPacket : MqttPacket
{
    public ushort PacketId { get; set; }
    public ReasonCode ReasonCode { get; set; }
    public MqttProperties? Properties { get; set; }
}

public sealed class PubAckPacket : PublishFlowPacket
{
    public override PacketType Type => PacketType.PubAck;
}

public sealed class PubRecPacket : PublishFlowPacket
{
    public override PacketType Type => PacketType.PubRec;
}

public sealed class PubRelPacket : PublishFlowPacket
{
    public override PacketType Type => PacketType.PubRel;
}

public sealed class PubCompPacket : PublishFlowPacket
{
    public override PacketType Type => PacketType.PubComp;
}
