using Gatehouse.Protocol.Packets;

namespace Gatehouse.Protocol.Codec;

/// <summary>DISCONNECT (section 3.14) and AUTH (section 3.15): reason code and properties, both omissible.</summary>
internal static class DisconnectCodec
{
    public static DisconnectPacket DecodeDisconnect(ref MqttBinaryReader r, ProtocolVersion version)
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

    public static AuthPacket DecodeAuth(ref MqttBinaryReader r)
    {
        var packet = new AuthPacket();
        // "The Reason Code and Property Length can be omitted if the Reason Code is 0x00 (Success) and there are no
        // Properties. In this case the AUTH has a Remaining Length of 0" (3.15.2.1).
        if (r.End) return packet;
        packet.ReasonCode = (ReasonCode)r.ReadByte();
        if (r.End) return packet;
        packet.Properties = PropertyReader.Read(ref r, PropertyScope.Auth);
        if (!r.End) ThrowHelper.Malformed("Unexpected bytes after AUTH.");
        return packet;
    }

    public static EncodePlan PlanDisconnect(DisconnectPacket p, ProtocolVersion version)
    {
        var first = EncodePlan.FirstByteOf(PacketType.Disconnect);
        if (version != ProtocolVersion.V500) return new EncodePlan(first, 0);
        var properties = PropertyWriter.GetContentLength(p.Properties, PropertyScope.Disconnect);
        if (properties > 0) return new EncodePlan(first, 1 + PropertyWriter.GetBlockLength(properties), properties);
        return new EncodePlan(first, p.ReasonCode == ReasonCode.NormalDisconnection ? 0 : 1);
    }

    public static EncodePlan PlanAuth(AuthPacket p, ProtocolVersion version)
    {
        if (version != ProtocolVersion.V500) ThrowHelper.Encoding("AUTH exists only in MQTT 5.0.");
        var first = EncodePlan.FirstByteOf(PacketType.Auth);
        var properties = PropertyWriter.GetContentLength(p.Properties, PropertyScope.Auth);
        if (properties == 0 && p.ReasonCode == ReasonCode.Success) return new EncodePlan(first, 0);
        return new EncodePlan(first, 1 + PropertyWriter.GetBlockLength(properties), properties);
    }

    /// <summary>Writes the reason code and properties the plan made room for (nothing, the code alone, or both).</summary>
    public static void Encode(ref MqttBinaryWriter w, ReasonCode reasonCode, MqttProperties? properties, PropertyScope scope, in EncodePlan plan)
    {
        if (plan.RemainingLength == 0) return;
        w.WriteByte((byte)reasonCode);
        if (plan.RemainingLength == 1) return;
        PropertyWriter.Write(ref w, properties, scope, plan.PropertiesLength);
    }
}
