using Gatehouse.Protocol.Topics;

namespace Gatehouse.Protocol.Codec;

/// <summary>Decodes an MQTT 5 property block (Property Length + properties, section 2.2.2).</summary>
internal static class PropertyReader
{
    /// <summary>Returns null when the block is empty, so the common case allocates nothing.</summary>
    public static MqttProperties? Read(ref MqttBinaryReader reader, PropertyScope scope)
    {
        var length = reader.ReadVariableByteInteger();
        if (length > (uint)reader.Remaining) ThrowHelper.Malformed("Property Length exceeds the packet.");
        if (length == 0) return null;

        var block = reader.Slice((int)length);
        var properties = new MqttProperties();
        ulong seen = 0;
        while (!block.End)
        {
            // Identifiers are Variable Byte Integers, but all defined ones fit in one byte; any byte >= 0x80 is unknown.
            var id = block.ReadByte();
            var info = PropertyTable.Get(id);
            // "A Control Packet which contains an Identifier which is not valid for its packet type ... is a
            // Malformed Packet" (section 2.2.2.2).
            if (info.Type == PropertyType.Unknown) ThrowHelper.Malformed($"Unknown property identifier 0x{id:X2}.");
            if ((info.AllowedIn & scope) == 0) ThrowHelper.Malformed($"Property 0x{id:X2} is not allowed in {scope}.");

            var bit = 1UL << id;
            if ((seen & bit) != 0 && !IsRepeatable((PropertyId)id, scope))
            {
                // Each property's definition: "It is a Protocol Error to include ... more than once".
                ThrowHelper.ProtocolError($"Property 0x{id:X2} appears more than once.");
            }
            seen |= bit;
            ReadValue(ref block, (PropertyId)id, properties);
        }
        return properties;
    }

    // User Property may repeat everywhere [MQTT-3.3.2-17]; Subscription Identifier may repeat in PUBLISH only
    // (one per matching subscription), SUBSCRIBE carries at most one (section 3.8.2.1.2).
    private static bool IsRepeatable(PropertyId id, PropertyScope scope) =>
        id == PropertyId.UserProperty || (id == PropertyId.SubscriptionIdentifier && scope == PropertyScope.Publish);

    private static void ReadValue(ref MqttBinaryReader r, PropertyId id, MqttProperties p)
    {
        switch (id)
        {
            case PropertyId.PayloadFormatIndicator: p.PayloadFormatIndicator = ReadFlag(ref r, id); break;
            case PropertyId.MessageExpiryInterval: p.MessageExpiryInterval = r.ReadUInt32(); break;
            case PropertyId.ContentType: p.ContentType = r.ReadString(); break;
            case PropertyId.ResponseTopic:
                var responseTopic = r.ReadString();
                // "The Response Topic MUST NOT contain wildcard characters" [MQTT-3.3.2-14].
                if (!TopicRules.IsValidTopicName(responseTopic)) ThrowHelper.ProtocolError("Response Topic is not a valid topic name.");
                p.ResponseTopic = responseTopic;
                break;
            case PropertyId.CorrelationData: p.CorrelationData = r.ReadBinaryCopy(); break;
            case PropertyId.SubscriptionIdentifier:
                var subscriptionId = r.ReadVariableByteInteger();
                // "It is a Protocol Error if the Subscription Identifier has a value of 0" (section 3.8.2.1.2).
                if (subscriptionId == 0) ThrowHelper.ProtocolError("Subscription Identifier 0.");
                (p.SubscriptionIdentifiers ??= []).Add(subscriptionId);
                break;
            case PropertyId.SessionExpiryInterval: p.SessionExpiryInterval = r.ReadUInt32(); break;
            case PropertyId.AssignedClientIdentifier: p.AssignedClientIdentifier = r.ReadString(); break;
            case PropertyId.ServerKeepAlive: p.ServerKeepAlive = r.ReadUInt16(); break;
            case PropertyId.AuthenticationMethod: p.AuthenticationMethod = r.ReadString(); break;
            case PropertyId.AuthenticationData: p.AuthenticationData = r.ReadBinaryCopy(); break;
            case PropertyId.RequestProblemInformation: p.RequestProblemInformation = ReadFlag(ref r, id); break;
            case PropertyId.WillDelayInterval: p.WillDelayInterval = r.ReadUInt32(); break;
            case PropertyId.RequestResponseInformation: p.RequestResponseInformation = ReadFlag(ref r, id); break;
            case PropertyId.ResponseInformation: p.ResponseInformation = r.ReadString(); break;
            case PropertyId.ServerReference: p.ServerReference = r.ReadString(); break;
            case PropertyId.ReasonString: p.ReasonString = r.ReadString(); break;
            case PropertyId.ReceiveMaximum:
                // "It is a Protocol Error ... for the value to be 0" (sections 3.1.2.11.3, 3.2.2.3.3).
                p.ReceiveMaximum = ReadNonZeroUInt16(ref r, id);
                break;
            case PropertyId.TopicAliasMaximum: p.TopicAliasMaximum = r.ReadUInt16(); break;
            case PropertyId.TopicAlias:
                // "A Topic Alias of 0 is not permitted" [MQTT-3.3.2-8].
                p.TopicAlias = ReadNonZeroUInt16(ref r, id);
                break;
            case PropertyId.MaximumQoS: p.MaximumQoS = ReadFlag(ref r, id); break;
            case PropertyId.RetainAvailable: p.RetainAvailable = ReadFlag(ref r, id); break;
            case PropertyId.UserProperty:
                var name = r.ReadString();
                var value = r.ReadString();
                (p.UserProperties ??= []).Add(new UserProperty(name, value));
                break;
            case PropertyId.MaximumPacketSize:
                var maximumPacketSize = r.ReadUInt32();
                // "It is a Protocol Error to include ... the value 0" (sections 3.1.2.11.4, 3.2.2.3.6).
                if (maximumPacketSize == 0) ThrowHelper.ProtocolError("Maximum Packet Size 0.");
                p.MaximumPacketSize = maximumPacketSize;
                break;
            case PropertyId.WildcardSubscriptionAvailable: p.WildcardSubscriptionAvailable = ReadFlag(ref r, id); break;
            case PropertyId.SubscriptionIdentifierAvailable: p.SubscriptionIdentifierAvailable = ReadFlag(ref r, id); break;
            case PropertyId.SharedSubscriptionAvailable: p.SharedSubscriptionAvailable = ReadFlag(ref r, id); break;
            default: ThrowHelper.Malformed($"Unknown property identifier 0x{(byte)id:X2}."); break;
        }
    }

    /// <summary>Byte properties whose only defined values are 0 and 1; anything else is a Protocol Error.</summary>
    private static byte ReadFlag(ref MqttBinaryReader r, PropertyId id)
    {
        var value = r.ReadByte();
        if (value > 1) ThrowHelper.ProtocolError($"Property {id} must be 0 or 1, was {value}.");
        return value;
    }

    private static ushort ReadNonZeroUInt16(ref MqttBinaryReader r, PropertyId id)
    {
        var value = r.ReadUInt16();
        if (value == 0) ThrowHelper.ProtocolError($"Property {id} must not be 0.");
        return value;
    }
}
