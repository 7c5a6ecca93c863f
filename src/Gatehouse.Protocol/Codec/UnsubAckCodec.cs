using Gatehouse.Protocol.Packets;

namespace Gatehouse.Protocol.Codec;

/// <summary>UNSUBACK (section 3.11). 3.1.1 has only the Packet Identifier.</summary>
internal static class UnsubAckCodec
{
    public static UnsubAckPacket Decode(ref MqttBinaryReader r, ProtocolVersion version)
    {
        if (version != ProtocolVersion.V500)
        {
            if (r.Remaining != 2) ThrowHelper.Malformed("UNSUBACK must have Remaining Length 2.");
            return new UnsubAckPacket { PacketId = r.ReadUInt16() };
        }
        var packet = new UnsubAckPacket { PacketId = r.ReadUInt16() };
        packet.Properties = PropertyReader.Read(ref r, PropertyScope.UnsubAck);
        var codes = r.ReadToEnd();
        packet.ReasonCodes = new List<ReasonCode>(codes.Length);
        foreach (var code in codes) packet.ReasonCodes.Add((ReasonCode)code);
        return packet;
    }

    public static EncodePlan Plan(UnsubAckPacket p, ProtocolVersion version)
    {
        var first = EncodePlan.FirstByteOf(PacketType.UnsubAck);
        if (version != ProtocolVersion.V500) return new EncodePlan(first, 2);
        var properties = PropertyWriter.GetContentLength(p.Properties, PropertyScope.UnsubAck);
        return new EncodePlan(first, 2L + PropertyWriter.GetBlockLength(properties) + p.ReasonCodes.Count, properties);
    }

    public static void Encode(ref MqttBinaryWriter w, UnsubAckPacket p, ProtocolVersion version, in EncodePlan plan)
    {
        w.WriteUInt16(p.PacketId);
        if (version != ProtocolVersion.V500) return;
        PropertyWriter.Write(ref w, p.Properties, PropertyScope.UnsubAck, plan.PropertiesLength);
        foreach (var code in p.ReasonCodes) w.WriteByte((byte)code);
    }
}
