namespace Gatehouse.Protocol.Packets;

/// <summary>One decoded MQTT control packet. The same model serves 3.1, 3.1.1 and 5.0; the codec maps versions.</summary>
public abstract class MqttPacket
{
    public abstract PacketType Type { get; }
}
