namespace Gatehouse.Protocol.Packets;

public sealed class PublishPacket : MqttPacket
{
    public override PacketType Type => PacketType.Publish;

    /// <summary>May be empty in 5.0 when a Topic Alias stands for it.</summary>
    public string Topic { get; set; } = "";
    public ReadOnlyMemory<byte> Payload { get; set; }
    public QoS QoS { get; set; }
    public bool Retain { get; set; }
    public bool Dup { get; set; }
    /// <summary>Zero for QoS 0 (absent on the wire).</summary>
    public ushort PacketId { get; set; }
    public MqttProperties? Properties { get; set; }
}
