using Gatehouse.Protocol.Packets;
using Gatehouse.Protocol.Topics;

namespace Gatehouse.Protocol.Codec;

/// <summary>
/// SUBSCRIBE (section 3.8). Topic filter syntax is judged by the broker, which answers 0x8F per filter in SUBACK;
/// the codec only enforces the UTF-8 rules and the subscription options byte.
/// </summary>
internal static class SubscribeCodec
{
    public static SubscribePacket Decode(ref MqttBinaryReader r, ProtocolVersion version)
    {
        var v5 = version == ProtocolVersion.V500;
        var packet = new SubscribePacket { PacketId = PacketIds.ReadNonZero(ref r, "SUBSCRIBE") };
        if (v5) packet.Properties = PropertyReader.Read(ref r, PropertyScope.Subscribe);
        // "The payload of a SUBSCRIBE packet MUST contain at least one Topic Filter" [MQTT-3.8.3-2] (5.0),
        // [MQTT-3.8.3-3] (3.1.1); an empty payload is a Protocol Error.
        if (r.End) ThrowHelper.ProtocolError("SUBSCRIBE without topic filters.");
        while (!r.End)
        {
            var filter = r.ReadString();
            var options = r.ReadByte();
            packet.Subscriptions.Add(v5 ? DecodeOptionsV5(filter, options) : DecodeOptionsV3(filter, options));
        }
        return packet;
    }

    private static TopicSubscription DecodeOptionsV5(string filter, byte options)
    {
        // Bits 6-7 are reserved: "The Server MUST treat a SUBSCRIBE packet as malformed if any of Reserved bits in
        // the Payload are non-zero" [MQTT-3.8.3-5].
        if ((options & 0xC0) != 0) ThrowHelper.Malformed("SUBSCRIBE options reserved bits are set.");
        var qos = options & 0x03;
        // "It is a Protocol Error if the Maximum QoS field has the value 3" (3.8.3.1).
        if (qos == 3) ThrowHelper.ProtocolError("SUBSCRIBE with Maximum QoS 3.");
        var retainHandling = (byte)((options >> 4) & 0x03);
        // "It is a Protocol Error to send a Retain Handling value of 3" (3.8.3.1).
        if (retainHandling == 3) ThrowHelper.ProtocolError("SUBSCRIBE with Retain Handling 3.");
        var noLocal = (options & 0x04) != 0;
        // "It is a Protocol Error to set the No Local bit to 1 on a Shared Subscription" [MQTT-3.8.3-4].
        if (noLocal && filter.StartsWith(TopicRules.SharePrefix, StringComparison.Ordinal)) ThrowHelper.ProtocolError("No Local on a shared subscription.");
        return new TopicSubscription
        {
            TopicFilter = filter,
            MaximumQoS = (QoS)qos,
            NoLocal = noLocal,
            RetainAsPublished = (options & 0x08) != 0,
            RetainHandling = retainHandling,
        };
    }

    private static TopicSubscription DecodeOptionsV3(string filter, byte options)
    {
        // "The Server MUST treat a SUBSCRIBE packet as malformed ... if any of Reserved bits in the payload are
        // non-zero, or QoS is not 0,1 or 2" [MQTT-3-8.3-4] (3.1.1).
        if ((options & 0xFC) != 0 || (options & 0x03) == 3) ThrowHelper.Malformed("SUBSCRIBE requested QoS byte is invalid.");
        return new TopicSubscription { TopicFilter = filter, MaximumQoS = (QoS)options };
    }

    public static EncodePlan Plan(SubscribePacket p, ProtocolVersion version)
    {
        long size = 2;
        var properties = 0;
        if (version == ProtocolVersion.V500)
        {
            properties = PropertyWriter.GetContentLength(p.Properties, PropertyScope.Subscribe);
            size += PropertyWriter.GetBlockLength(properties);
        }
        foreach (var s in p.Subscriptions) size += WireSize.String(s.TopicFilter) + 1;
        return new EncodePlan(EncodePlan.FirstByteOf(PacketType.Subscribe, 0x02), size, properties);
    }

    public static void Encode(ref MqttBinaryWriter w, SubscribePacket p, ProtocolVersion version, in EncodePlan plan)
    {
        var v5 = version == ProtocolVersion.V500;
        w.WriteUInt16(p.PacketId);
        if (v5) PropertyWriter.Write(ref w, p.Properties, PropertyScope.Subscribe, plan.PropertiesLength);
        foreach (var s in p.Subscriptions)
        {
            w.WriteString(s.TopicFilter);
            var options = (int)s.MaximumQoS & 0x03;
            if (v5)
            {
                if (s.NoLocal) options |= 0x04;
                if (s.RetainAsPublished) options |= 0x08;
                options |= (s.RetainHandling & 0x03) << 4;
            }
            w.WriteByte((byte)options);
        }
    }
}
