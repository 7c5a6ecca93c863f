using Gatehouse.Protocol.Packets;

namespace Gatehouse.Protocol.Codec;

/// <summary>DISCONNECT (section 3.14): reason code and properties, both omissible in 5.0.</summary>
internal static class DisconnectCodec
{
    public static DisconnectPacket Decode(ref MqttBinaryReader r, ProtocolVersion version)
    {
        var packet = new DisconnectPacket();
        // 3.1.1 DISCONNECT has no variable header and no payload: Remaining Length 0 (sections 3.14.1-3.14.3).
        if (version != ProtocolVersion.V500)
        {
            if (!r.End) ThrowHelper.Malformed("DISCONNECT must have Remaining Length 0.");
            return packet;
        }
        // 5.0: Remaining Length 0 → Normal disconnection; < 2 → no Property Length (3.14.2.1, 3.14.2.2).
        if (r.End) return packet;
        packet.ReasonCode = (ReasonCode)r.ReadByte();
        if (r.End) return packet;
        packet.Properties = PropertyReader.Read(ref r, PropertyScope.Disconnect);
        if (!r.End) ThrowHelper.Malformed("Unexpected bytes after DISCONNECT.");
        return packet;
    }

    public static EncodePlan Plan(DisconnectPacket p, ProtocolVersion version)
    {
        var first = EncodePlan.FirstByteOf(PacketType.Disconnect);
        if (version != ProtocolVersion.V500) return new EncodePlan(first, 0);
        var properties = PropertyWriter.GetContentLength(p.Properties, PropertyScope.Disconnect);
        if (properties > 0) return new EncodePlan(first, 1 + PropertyWriter.GetBlockLength(properties), properties);
        return new EncodePlan(first, p.ReasonCode == ReasonCode.NormalDisconnection ? 0 : 1);
    }

    /// <summary>Writes the reason code and properties the plan made room for (nothing, the code alone, or both); shared with AUTH.</summary>
    public static void EncodeReasonAndProperties(ref MqttBinaryWriter w, ReasonCode reasonCode, MqttProperties? properties, PropertyScope scope, in EncodePlan plan)
    {
        if (plan.RemainingLength == 0) return;
        w.WriteByte((byte)reasonCode);
        if (plan.RemainingLength == 1) return;
        PropertyWriter.Write(ref w, properties, scope, plan.PropertiesLength);
    }
}
