using Gatehouse.Protocol.Packets;

namespace Gatehouse.Protocol.Codec;

/// <summary>AUTH (section 3.15), MQTT 5.0 only.</summary>
internal static class AuthCodec
{
    public static AuthPacket Decode(ref MqttBinaryReader r)
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

    public static EncodePlan Plan(AuthPacket p, ProtocolVersion version)
    {
        if (version != ProtocolVersion.V500) ThrowHelper.Encoding("AUTH exists only in MQTT 5.0.");
        var first = EncodePlan.FirstByteOf(PacketType.Auth);
        var properties = PropertyWriter.GetContentLength(p.Properties, PropertyScope.Auth);
        if (properties == 0 && p.ReasonCode == ReasonCode.Success) return new EncodePlan(first, 0);
        return new EncodePlan(first, 1 + PropertyWriter.GetBlockLength(properties), properties);
    }

    public static void Encode(ref MqttBinaryWriter w, AuthPacket p, in EncodePlan plan) =>
        DisconnectCodec.EncodeReasonAndProperties(ref w, p.ReasonCode, p.Properties, PropertyScope.Auth, plan);
}
