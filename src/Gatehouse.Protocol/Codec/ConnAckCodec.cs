using Gatehouse.Protocol.Packets;

namespace Gatehouse.Protocol.Codec;

/// <summary>CONNACK (section 3.2). 3.1.1 return codes are mapped to and from 5.0 reason codes.</summary>
internal static class ConnAckCodec
{
    public static ConnAckPacket Decode(ref MqttBinaryReader r, ProtocolVersion version)
    {
        var flags = r.ReadByte();
        var packet = new ConnAckPacket();
        // MQTT 3.1 has no Session Present flag: the first byte is reserved and not used.
        if (version != ProtocolVersion.V310)
        {
            // Connect Acknowledge Flags bits 7-1 are reserved and MUST be 0 [MQTT-3.2.2-1].
            if ((flags & 0xFE) != 0) ThrowHelper.Malformed("CONNACK reserved flags are set.");
            packet.SessionPresent = (flags & 0x01) != 0;
        }
        var code = r.ReadByte();
        if (version == ProtocolVersion.V500)
        {
            packet.ReasonCode = (ReasonCode)code;
            packet.Properties = PropertyReader.Read(ref r, PropertyScope.ConnAck);
        }
        else
        {
            packet.ReasonCode = FromReturnCode(code);
        }
        if (!r.End) ThrowHelper.Malformed("Unexpected bytes after CONNACK.");
        return packet;
    }

    public static EncodePlan Plan(ConnAckPacket p, ProtocolVersion version)
    {
        if (version != ProtocolVersion.V500) return new EncodePlan(EncodePlan.FirstByteOf(PacketType.ConnAck), 2);
        var properties = PropertyWriter.GetContentLength(p.Properties, PropertyScope.ConnAck);
        return new EncodePlan(EncodePlan.FirstByteOf(PacketType.ConnAck), 2 + PropertyWriter.GetBlockLength(properties), properties);
    }

    public static void Encode(ref MqttBinaryWriter w, ConnAckPacket p, ProtocolVersion version, in EncodePlan plan)
    {
        // MQTT 3.1 has no Session Present flag; the byte is reserved.
        w.WriteByte((byte)(p.SessionPresent && version != ProtocolVersion.V310 ? 1 : 0));
        if (version == ProtocolVersion.V500)
        {
            w.WriteByte((byte)p.ReasonCode);
            PropertyWriter.Write(ref w, p.Properties, PropertyScope.ConnAck, plan.PropertiesLength);
        }
        else
        {
            w.WriteByte((byte)ToReturnCode(p.ReasonCode));
        }
    }

    public static ConnectReturnCodeV3 ToReturnCode(ReasonCode reasonCode) => reasonCode switch
    {
        ReasonCode.Success => ConnectReturnCodeV3.Accepted,
        ReasonCode.UnsupportedProtocolVersion => ConnectReturnCodeV3.UnacceptableProtocolVersion,
        ReasonCode.ClientIdentifierNotValid => ConnectReturnCodeV3.IdentifierRejected,
        ReasonCode.BadUserNameOrPassword => ConnectReturnCodeV3.BadUserNameOrPassword,
        ReasonCode.NotAuthorized or ReasonCode.Banned => ConnectReturnCodeV3.NotAuthorized,
        _ => ConnectReturnCodeV3.ServerUnavailable,
    };

    private static ReasonCode FromReturnCode(byte code) => (ConnectReturnCodeV3)code switch
    {
        ConnectReturnCodeV3.Accepted => ReasonCode.Success,
        ConnectReturnCodeV3.UnacceptableProtocolVersion => ReasonCode.UnsupportedProtocolVersion,
        ConnectReturnCodeV3.IdentifierRejected => ReasonCode.ClientIdentifierNotValid,
        ConnectReturnCodeV3.ServerUnavailable => ReasonCode.ServerUnavailable,
        ConnectReturnCodeV3.BadUserNameOrPassword => ReasonCode.BadUserNameOrPassword,
        ConnectReturnCodeV3.NotAuthorized => ReasonCode.NotAuthorized,
        // Return codes 6-255 are reserved (3.1.1 section 3.2.2.3).
        _ => Invalid(code),
    };

    private static ReasonCode Invalid(byte code)
    {
        ThrowHelper.Malformed($"Reserved CONNACK return code {code}.");
        return default;
    }
}
