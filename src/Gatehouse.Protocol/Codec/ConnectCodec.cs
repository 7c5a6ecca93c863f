using Gatehouse.Protocol.Packets;

namespace Gatehouse.Protocol.Codec;

/// <summary>CONNECT (section 3.1) in 3.1, 3.1.1 and 5.0. The packet carries its own version.</summary>
internal static class ConnectCodec
{
    private const byte ReservedFlag = 0x01, CleanStartFlag = 0x02, WillFlag = 0x04, WillRetainFlag = 0x20, PasswordFlag = 0x40, UserNameFlag = 0x80;

    private static ReadOnlySpan<byte> Mqtt => "MQTT"u8;
    private static ReadOnlySpan<byte> MqIsdp => "MQIsdp"u8;

    /// <param name="pool">Where the packet comes from, when given (the broker's, which gives it back after handling it).</param>
    public static ConnectPacket Decode(ref MqttBinaryReader r, ConnectPacketPool? pool)
    {
        var name = r.ReadStringBytes();
        var level = r.ReadByte();
        // Protocol Name and Level [MQTT-3.1.2-1], [MQTT-3.1.2-2]: answered with CONNACK 0x84 / return code 1.
        ProtocolVersion version;
        if (name.SequenceEqual(Mqtt) && level is 4 or 5) version = (ProtocolVersion)level;
        else if (name.SequenceEqual(MqIsdp) && level == 3) version = ProtocolVersion.V310;
        else
        {
            // A level-5 client gets its answer in 5.0 form (CONNACK 0x84), anyone else the 3.1.1 return code 0x01.
            throw new MqttProtocolException(ReasonCode.UnsupportedProtocolVersion, $"Unsupported protocol name/level {level}.")
            {
                ConnectVersion = level == 5 ? ProtocolVersion.V500 : null,
            };
        }
        try
        {
            return DecodeBody(ref r, version, pool);
        }
        catch (MqttProtocolException ex) when (ex.ConnectVersion is null)
        {
            // The channel answers a 5.0 client's faulty CONNECT with a CONNACK reason code [MQTT-4.13.1-1].
            ex.ConnectVersion = version;
            throw;
        }
    }

    private static ConnectPacket DecodeBody(ref MqttBinaryReader r, ProtocolVersion version, ConnectPacketPool? pool)
    {
        var flags = r.ReadByte();
        // "The Server MUST validate that the reserved flag in the CONNECT packet is set to 0" [MQTT-3.1.2-3].
        if ((flags & ReservedFlag) != 0) ThrowHelper.Malformed("CONNECT reserved flag is set.");
        var hasWill = (flags & WillFlag) != 0;
        var willQoS = (flags >> 3) & 0x03;
        var willRetain = (flags & WillRetainFlag) != 0;
        // Will Flag 0 ⇒ Will QoS 0 and Will Retain 0 ([MQTT-3.1.2-11], [MQTT-3.1.2-13] in 5.0; -13/-15 in 3.1.1).
        if (!hasWill && (willQoS != 0 || willRetain)) ThrowHelper.Malformed("Will QoS/Retain set without the Will Flag.");
        // Will QoS 3 "is a Malformed Packet" ([MQTT-3.1.2-12] in 5.0, [MQTT-3.1.2-14] in 3.1.1).
        if (willQoS == 3) ThrowHelper.Malformed("Will QoS 3.");
        var hasPassword = (flags & PasswordFlag) != 0;
        var hasUserName = (flags & UserNameFlag) != 0;
        // 3.1.1: "If the User Name Flag is set to 0, the Password Flag MUST be set to 0" [MQTT-3.1.2-22]; 5.0 allows it.
        if (version != ProtocolVersion.V500 && hasPassword && !hasUserName) ThrowHelper.ProtocolError("Password Flag set without User Name Flag.");

        // Every field is written, present or not: a pooled packet was cleared when it went back, and is again here.
        var packet = pool?.Rent() ?? new ConnectPacket();
        packet.ProtocolName = ProtocolNameFor(version);
        packet.ProtocolVersion = version;
        packet.CleanStart = (flags & CleanStartFlag) != 0;
        packet.KeepAliveSeconds = r.ReadUInt16();
        packet.Properties = version == ProtocolVersion.V500 ? PropertyReader.Read(ref r, PropertyScope.Connect) : null;

        // Any UTF-8 client identifier; emptiness and length are the channel's decision [MQTT-3.1.3-4].
        packet.ClientId = r.ReadString();
        packet.Will = hasWill ? DecodeWill(ref r, version, (QoS)willQoS, willRetain) : null;
        packet.UserName = hasUserName ? r.ReadString() : null;
        // Typed: a null byte[] would convert to an empty password that is there, not to none.
        packet.Password = hasPassword ? r.ReadBinaryCopy() : (ReadOnlyMemory<byte>?)null;
        if (!r.End) ThrowHelper.Malformed("Unexpected bytes after the CONNECT payload.");
        return packet;
    }

    private static WillMessage DecodeWill(ref MqttBinaryReader r, ProtocolVersion version, QoS qos, bool retain)
    {
        var properties = version == ProtocolVersion.V500 ? PropertyReader.Read(ref r, PropertyScope.Will) : null;
        var topic = r.ReadStringBytes();
        TopicValidation.RequireNonEmpty(topic, version);
        TopicValidation.RequireNoWildcards(topic, version);
        var will = new WillMessage
        {
            Properties = properties,
            Topic = Utf8Validation.Decode(topic),
            Payload = r.ReadBinaryCopy(),
            QoS = qos,
            Retain = retain,
        };
        PayloadFormat.Validate(properties, will.Payload.Span);
        return will;
    }

    public static EncodePlan Plan(ConnectPacket p, ProtocolVersion version)
    {
        var v5 = version == ProtocolVersion.V500;
        long size = WireSize.String(ProtocolNameFor(version)) + 1 + 1 + 2 + WireSize.String(p.ClientId);
        int properties = 0, willProperties = 0;
        if (v5)
        {
            properties = PropertyWriter.GetContentLength(p.Properties, PropertyScope.Connect);
            size += PropertyWriter.GetBlockLength(properties);
        }
        if (p.Will is { } will)
        {
            if (v5)
            {
                willProperties = PropertyWriter.GetContentLength(will.Properties, PropertyScope.Will);
                size += PropertyWriter.GetBlockLength(willProperties);
            }
            size += WireSize.String(will.Topic) + WireSize.Binary(will.Payload.Length);
        }
        if (p.UserName is not null) size += WireSize.String(p.UserName);
        if (p.Password is { } password) size += WireSize.Binary(password.Length);
        return new EncodePlan(EncodePlan.FirstByteOf(PacketType.Connect), size, properties, willProperties);
    }

    public static void Encode(ref MqttBinaryWriter w, ConnectPacket p, ProtocolVersion version, in EncodePlan plan)
    {
        var v5 = version == ProtocolVersion.V500;
        w.WriteString(ProtocolNameFor(version));
        w.WriteByte((byte)version);
        var flags = 0;
        if (p.CleanStart) flags |= CleanStartFlag;
        if (p.Will is { } w0)
        {
            flags |= WillFlag | ((int)w0.QoS << 3);
            if (w0.Retain) flags |= WillRetainFlag;
        }
        if (p.Password.HasValue) flags |= PasswordFlag;
        if (p.UserName is not null) flags |= UserNameFlag;
        w.WriteByte((byte)flags);
        w.WriteUInt16(p.KeepAliveSeconds);
        if (v5) PropertyWriter.Write(ref w, p.Properties, PropertyScope.Connect, plan.PropertiesLength);
        w.WriteString(p.ClientId);
        if (p.Will is { } will)
        {
            if (v5) PropertyWriter.Write(ref w, will.Properties, PropertyScope.Will, plan.WillPropertiesLength);
            w.WriteString(will.Topic);
            w.WriteBinary(will.Payload.Span);
        }
        if (p.UserName is not null) w.WriteString(p.UserName);
        if (p.Password is { } password) w.WriteBinary(password.Span);
    }

    private static string ProtocolNameFor(ProtocolVersion version) => version == ProtocolVersion.V310 ? "MQIsdp" : "MQTT";
}
