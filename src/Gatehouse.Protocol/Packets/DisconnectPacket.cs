namespace Gatehouse.Protocol.Packets;

public sealed class DisconnectPacket : MqttPacket
{
    public override PacketType Type => PacketType.Disconnect;

    /// <summary>5.0 only; 3.1.1 DISCONNECT has no variable header.</summary>
    public ReasonCode ReasonCode { get; set; }
    /// <summary>Session Expiry Interval, Reason String, User Properties, Server Reference.</summary>
    public MqttProperties? Properties { get; set; }
}
