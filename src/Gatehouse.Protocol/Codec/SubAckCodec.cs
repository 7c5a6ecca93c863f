using Gatehouse.Protocol.Packets;

namespace Gatehouse.Protocol.Codec;

/// <summary>SUBACK (section 3.9). 3.1.1 knows only 0, 1, 2 and 0x80.</summary>
internal static class SubAckCodec
{
    private const byte FailureV3 = 0x80;

    public static SubAckPacket Decode(ref MqttBinaryReader r, ProtocolVersion version)
    {
        var v5 = version == ProtocolVersion.V500;
        var packet = new SubAckPacket { PacketId = r.ReadUInt16() };
        if (v5) packet.Properties = PropertyReader.Read(ref r, PropertyScope.SubAck);
        var codes = r.ReadToEnd();
        packet.ReasonCodes = new List<ReasonCode>(codes.Length);
        foreach (var code in codes)
        {
            // "SUBACK return codes other than 0x00, 0x01, 0x02 and 0x80 are reserved and MUST NOT be used" [MQTT-3.9.3-2] (3.1.1).
            if (!v5 && code > 2 && code != FailureV3) ThrowHelper.Malformed($"Reserved SUBACK return code 0x{code:X2}.");
            packet.ReasonCodes.Add((ReasonCode)code);
        }
        return packet;
    }

    public static EncodePlan Plan(SubAckPacket p, ProtocolVersion version)
    {
        long size = 2 + p.ReasonCodes.Count;
        var properties = 0;
        if (version == ProtocolVersion.V500)
        {
            properties = PropertyWriter.GetContentLength(p.Properties, PropertyScope.SubAck);
            size += PropertyWriter.GetBlockLength(properties);
        }
        return new EncodePlan(EncodePlan.FirstByteOf(PacketType.SubAck), size, properties);
    }

    public static void Encode(ref MqttBinaryWriter w, SubAckPacket p, ProtocolVersion version, in EncodePlan plan)
    {
        var v5 = version == ProtocolVersion.V500;
        w.WriteUInt16(p.PacketId);
        if (v5) PropertyWriter.Write(ref w, p.Properties, PropertyScope.SubAck, plan.PropertiesLength);
        foreach (var code in p.ReasonCodes)
        {
            // 3.1.1: granted QoS 0/1/2, or 0x80 for any failure.
            w.WriteByte(v5 || (byte)code <= 2 ? (byte)code : FailureV3);
        }
    }
}
