using Gatehouse.Protocol.Packets;

namespace Gatehouse.Protocol.Codec;

/// <summary>UNSUBSCRIBE (section 3.10).</summary>
internal static class UnsubscribeCodec
{
    public static UnsubscribePacket Decode(ref MqttBinaryReader r, ProtocolVersion version)
    {
        var packet = new UnsubscribePacket { PacketId = PacketIds.ReadNonZero(ref r, "UNSUBSCRIBE") };
        if (version == ProtocolVersion.V500) packet.Properties = PropertyReader.Read(ref r, PropertyScope.Unsubscribe);
        // "The Payload of an UNSUBSCRIBE packet MUST contain at least one Topic Filter" [MQTT-3.10.3-2].
        if (r.End) ThrowHelper.ProtocolError("UNSUBSCRIBE without topic filters.");
        while (!r.End) packet.TopicFilters.Add(r.ReadString());
        return packet;
    }

    public static EncodePlan Plan(UnsubscribePacket p, ProtocolVersion version)
    {
        long size = 2;
        var properties = 0;
        if (version == ProtocolVersion.V500)
        {
            properties = PropertyWriter.GetContentLength(p.Properties, PropertyScope.Unsubscribe);
            size += PropertyWriter.GetBlockLength(properties);
        }
        foreach (var filter in p.TopicFilters) size += WireSize.String(filter);
        return new EncodePlan(EncodePlan.FirstByteOf(PacketType.Unsubscribe, 0x02), size, properties);
    }

    public static void Encode(ref MqttBinaryWriter w, UnsubscribePacket p, ProtocolVersion version, in EncodePlan plan)
    {
        w.WriteUInt16(p.PacketId);
        if (version == ProtocolVersion.V500) PropertyWriter.Write(ref w, p.Properties, PropertyScope.Unsubscribe, plan.PropertiesLength);
        foreach (var filter in p.TopicFilters) w.WriteString(filter);
    }
}
