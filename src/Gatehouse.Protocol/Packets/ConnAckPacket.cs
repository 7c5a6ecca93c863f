namespace Gatehouse.Protocol.Packets;

public sealed class ConnAckPacket : MqttPacket
{
    public override PacketType Type => PacketType.ConnAck;

    public bool SessionPresent { get; set; }
    /// <summary>Always the 5.0 reason code; the writer maps it to a 3.1.1 return code for older clients.</summary>
    public ReasonCode ReasonCode { get; set; }
    public MqttProperties? Properties { get; set; }
}
