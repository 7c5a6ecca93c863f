namespace Gatehouse.Protocol.Packets;

/// <summary>MQTT 5 enhanced authentication exchange.</summary>
public sealed class AuthPacket : MqttPacket
{
    public override PacketType Type => PacketType.Auth;

    public ReasonCode ReasonCode { get; set; }
    public MqttProperties? Properties { get; set; }
}
