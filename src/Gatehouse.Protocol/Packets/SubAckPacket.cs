namespace Gatehouse.Protocol.Packets;

public sealed class SubAckPacket : MqttPacket
{
    public override PacketType Type => PacketType.SubAck;

    public ushort PacketId { get; set; }
    /// <summary>One per filter. For 3.1.1 the writer emits 0/1/2 for granted QoS and 0x80 for any failure.</summary>
    public List<ReasonCode> ReasonCodes { get; set; } = [];
    public MqttProperties? Properties { get; set; }
}
