namespace Gatehouse.Protocol.Packets;

public sealed class UnsubAckPacket : MqttPacket
{
    public override PacketType Type => PacketType.UnsubAck;

    public ushort PacketId { get; set; }
    /// <summary>One per filter (5.0 only; 3.1.1 UNSUBACK has no payload).</summary>
    public List<ReasonCode> ReasonCodes { get; set; } = [];
    public MqttProperties? Properties { get; set; }
}
