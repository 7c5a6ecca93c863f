using Gatehouse.Protocol.Packets;

namespace Gatehouse.Protocol.Codec;

/// <summary>PUBLISH (section 3.3). The fixed header flags were validated by <see cref="FixedHeader"/>.</summary>
internal static class PublishCodec
{
    private const byte RetainFlag = 0x01, DupFlag = 0x08;

    /// <summary>
    /// Decodes a PUBLISH. A QoS 0 one comes from <paramref name="pool"/> when there is one, its payload copied into the
    /// packet's own buffer; QoS 1 and 2 messages are kept by the broker until acknowledged, so pooling them gains nothing.
    /// </summary>
    public static PublishPacket Decode(ref MqttBinaryReader r, byte flags, ProtocolVersion version, PublishPacketPool? pool)
    {
        var qos = (QoS)((flags >> 1) & 0x03);
        var topic = r.ReadStringBytes();
        TopicValidation.RequireNoWildcards(topic, version);
        var packet = pool is not null && qos == QoS.AtMostOnce ? pool.Rent() : new PublishPacket();
        packet.QoS = qos;
        packet.Retain = (flags & RetainFlag) != 0;
        packet.Dup = (flags & DupFlag) != 0;
        if (TopicNameCache.TryGet(topic, out var cached, out var utf8)) packet.SetTopic(cached, utf8);
        else packet.Topic = Utf8Validation.Decode(topic);
        if (qos != QoS.AtMostOnce)
        {
            packet.PacketId = r.ReadUInt16();
            // Non-zero Packet Identifier when QoS > 0 ([MQTT-2.2.1-3] in 5.0, [MQTT-2.3.1-1] in 3.1.1).
            if (packet.PacketId == 0) ThrowHelper.Malformed("PUBLISH with QoS > 0 has Packet Identifier 0.");
        }
        if (version == ProtocolVersion.V500) packet.Properties = PropertyReader.Read(ref r, PropertyScope.Publish);

        if (topic.IsEmpty && packet.Properties?.TopicAlias is null)
        {
            // 5.0: "It is a Protocol Error if the Topic Name is zero length and there is no Topic Alias" (3.3.2.3.4);
            // 3.1.1: Topic Names are at least one character [MQTT-4.7.3-1].
            ThrowHelper.ProtocolError("PUBLISH with an empty Topic Name and no Topic Alias.");
        }

        var payload = r.ReadToEnd();
        PayloadFormat.Validate(packet.Properties, payload);
        if (packet.IsPooled) packet.CopyPayload(payload);
        else packet.Payload = payload.ToArray();
        return packet;
    }

    public static EncodePlan Plan(PublishPacket p, ProtocolVersion version)
    {
        long size = (p.TopicUtf8 is { } topic ? WireSize.Binary(topic.Length) : WireSize.String(p.Topic)) + p.Payload.Length;
        if (p.QoS != QoS.AtMostOnce) size += 2;
        var properties = 0;
        if (version == ProtocolVersion.V500)
        {
            properties = PropertyWriter.GetContentLength(p.Properties, PropertyScope.Publish);
            size += PropertyWriter.GetBlockLength(properties);
        }
        var flags = ((int)p.QoS << 1) | (p.Retain ? RetainFlag : 0) | (p.Dup ? DupFlag : 0);
        return new EncodePlan(EncodePlan.FirstByteOf(PacketType.Publish, flags), size, properties);
    }

    public static void Encode(ref MqttBinaryWriter w, PublishPacket p, ProtocolVersion version, in EncodePlan plan)
    {
        // Same bytes either way: a UTF-8 Encoded String is a length-prefixed byte sequence (section 1.5.4).
        if (p.TopicUtf8 is { } topic) w.WriteBinary(topic);
        else w.WriteString(p.Topic);
        if (p.QoS != QoS.AtMostOnce) w.WriteUInt16(p.PacketId);
        if (version == ProtocolVersion.V500) PropertyWriter.Write(ref w, p.Properties, PropertyScope.Publish, plan.PropertiesLength);
        w.WriteBytes(p.Payload.Span);
    }
}
