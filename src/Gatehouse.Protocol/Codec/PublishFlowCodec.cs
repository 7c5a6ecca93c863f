using Gatehouse.Protocol.Packets;

namespace Gatehouse.Protocol.Codec;

/// <summary>PUBACK, PUBREC, PUBREL and PUBCOMP (sections 3.4-3.7), including the 5.0 short forms.</summary>
internal static class PublishFlowCodec
{
    public static PublishFlowPacket Decode(ref MqttBinaryReader r, PacketType type, ProtocolVersion version)
    {
        PublishFlowPacket packet = type switch
        {
            PacketType.PubAck => new PubAckPacket(),
            PacketType.PubRec => new PubRecPacket(),
            PacketType.PubRel => new PubRelPacket(),
            _ => new PubCompPacket(),
        };
        // 3.1.1: the Remaining Length is exactly 2.
        if (version != ProtocolVersion.V500 && r.Remaining != 2) ThrowHelper.Malformed($"{type} must have Remaining Length 2.");
        packet.PacketId = r.ReadUInt16();
        if (r.End) return packet; // 5.0: Remaining Length 2 means Reason Code 0x00 and no properties.
        packet.ReasonCode = (ReasonCode)r.ReadByte();
        if (r.End) return packet; // 5.0: "If the Remaining Length is less than 4 there is no Property Length".
        packet.Properties = PropertyReader.Read(ref r, PropertyScope.PublishFlow);
        if (!r.End) ThrowHelper.Malformed($"Unexpected bytes after {type}.");
        return packet;
    }

    public static EncodePlan Plan(PublishFlowPacket p, ProtocolVersion version)
    {
        var flags = p.Type == PacketType.PubRel ? 0x02 : 0;
        var first = EncodePlan.FirstByteOf(p.Type, flags);
        if (version != ProtocolVersion.V500) return new EncodePlan(first, 2);
        var properties = PropertyWriter.GetContentLength(p.Properties, PropertyScope.PublishFlow);
        if (properties > 0) return new EncodePlan(first, 3 + PropertyWriter.GetBlockLength(properties), properties);
        // Short forms: the Reason Code can be omitted when it is Success and there are no properties.
        return new EncodePlan(first, p.ReasonCode == ReasonCode.Success ? 2 : 3);
    }

    public static void Encode(ref MqttBinaryWriter w, PublishFlowPacket p, in EncodePlan plan)
    {
        w.WriteUInt16(p.PacketId);
        if (plan.RemainingLength == 2) return;
        w.WriteByte((byte)p.ReasonCode);
        if (plan.RemainingLength == 3) return;
        PropertyWriter.Write(ref w, p.Properties, PropertyScope.PublishFlow, plan.PropertiesLength);
    }
}
