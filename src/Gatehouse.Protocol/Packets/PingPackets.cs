namespace Gatehouse.Protocol.Packets;

public sealed class PingReqPacket : MqttPacket
{
    public static readonly PingReqPacket Instance = new();

    public override PacketType Type => PacketType.PingReq;
}

public sealed class PingRespPacket : MqttPacket
{
    public static readonly PingRespPacket Instance = new();

    public override PacketType Type => PacketType.PingResp;
}
