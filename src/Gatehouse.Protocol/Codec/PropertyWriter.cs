namespace Gatehouse.Protocol.Codec;

/// <summary>
/// Encodes an MQTT 5 property block. Properties not allowed in the target packet are omitted (for example the Will
/// Delay Interval when a will's properties are reused for the PUBLISH), so the output always decodes.
/// </summary>
internal static class PropertyWriter
{
    /// <summary>Length of the properties, excluding the Property Length prefix.</summary>
    public static int GetContentLength(MqttProperties? p, PropertyScope scope)
    {
        if (p is null) return 0;
        var size = 0;
        if (p.PayloadFormatIndicator.HasValue && Allowed(PropertyId.PayloadFormatIndicator, scope)) size += 2;
        if (p.MessageExpiryInterval.HasValue && Allowed(PropertyId.MessageExpiryInterval, scope)) size += 5;
        if (p.ContentType is not null && Allowed(PropertyId.ContentType, scope)) size += 1 + WireSize.String(p.ContentType);
        if (p.ResponseTopic is not null && Allowed(PropertyId.ResponseTopic, scope)) size += 1 + WireSize.String(p.ResponseTopic);
        if (p.CorrelationData.HasValue && Allowed(PropertyId.CorrelationData, scope)) size += 1 + WireSize.Binary(p.CorrelationData.Value.Length);
        if (p.SubscriptionIdentifiers is { } ids && Allowed(PropertyId.SubscriptionIdentifier, scope))
        {
            foreach (var id in ids) size += 1 + VariableByteInteger.GetSize(id);
        }
        if (p.SessionExpiryInterval.HasValue && Allowed(PropertyId.SessionExpiryInterval, scope)) size += 5;
        if (p.AssignedClientIdentifier is not null && Allowed(PropertyId.AssignedClientIdentifier, scope)) size += 1 + WireSize.String(p.AssignedClientIdentifier);
        if (p.ServerKeepAlive.HasValue && Allowed(PropertyId.ServerKeepAlive, scope)) size += 3;
        if (p.AuthenticationMethod is not null && Allowed(PropertyId.AuthenticationMethod, scope)) size += 1 + WireSize.String(p.AuthenticationMethod);
        if (p.AuthenticationData.HasValue && Allowed(PropertyId.AuthenticationData, scope)) size += 1 + WireSize.Binary(p.AuthenticationData.Value.Length);
        if (p.RequestProblemInformation.HasValue && Allowed(PropertyId.RequestProblemInformation, scope)) size += 2;
        if (p.WillDelayInterval.HasValue && Allowed(PropertyId.WillDelayInterval, scope)) size += 5;
        if (p.RequestResponseInformation.HasValue && Allowed(PropertyId.RequestResponseInformation, scope)) size += 2;
        if (p.ResponseInformation is not null && Allowed(PropertyId.ResponseInformation, scope)) size += 1 + WireSize.String(p.ResponseInformation);
        if (p.ServerReference is not null && Allowed(PropertyId.ServerReference, scope)) size += 1 + WireSize.String(p.ServerReference);
        if (p.ReasonString is not null && Allowed(PropertyId.ReasonString, scope)) size += 1 + WireSize.String(p.ReasonString);
        if (p.ReceiveMaximum.HasValue && Allowed(PropertyId.ReceiveMaximum, scope)) size += 3;
        if (p.TopicAliasMaximum.HasValue && Allowed(PropertyId.TopicAliasMaximum, scope)) size += 3;
        if (p.TopicAlias.HasValue && Allowed(PropertyId.TopicAlias, scope)) size += 3;
        if (p.MaximumQoS.HasValue && Allowed(PropertyId.MaximumQoS, scope)) size += 2;
        if (p.RetainAvailable.HasValue && Allowed(PropertyId.RetainAvailable, scope)) size += 2;
        if (p.UserProperties is { } users)
        {
            foreach (var u in users) size += 1 + WireSize.String(u.Name) + WireSize.String(u.Value);
        }
        if (p.MaximumPacketSize.HasValue && Allowed(PropertyId.MaximumPacketSize, scope)) size += 5;
        if (p.WildcardSubscriptionAvailable.HasValue && Allowed(PropertyId.WildcardSubscriptionAvailable, scope)) size += 2;
        if (p.SubscriptionIdentifierAvailable.HasValue && Allowed(PropertyId.SubscriptionIdentifierAvailable, scope)) size += 2;
        if (p.SharedSubscriptionAvailable.HasValue && Allowed(PropertyId.SharedSubscriptionAvailable, scope)) size += 2;
        return size;
    }

    /// <summary>Property Length prefix plus the properties.</summary>
    public static int GetBlockLength(int contentLength) => VariableByteInteger.GetSize((uint)contentLength) + contentLength;

    /// <summary>Writes the Property Length and the properties; <paramref name="contentLength"/> comes from <see cref="GetContentLength"/>.</summary>
    public static void Write(ref MqttBinaryWriter w, MqttProperties? p, PropertyScope scope, int contentLength)
    {
        w.WriteVariableByteInteger((uint)contentLength);
        if (p is null || contentLength == 0) return;
        var start = w.Position;
        if (p.PayloadFormatIndicator is { } pfi && Allowed(PropertyId.PayloadFormatIndicator, scope)) Byte(ref w, PropertyId.PayloadFormatIndicator, pfi);
        if (p.MessageExpiryInterval is { } mei && Allowed(PropertyId.MessageExpiryInterval, scope)) UInt32(ref w, PropertyId.MessageExpiryInterval, mei);
        if (p.ContentType is { } ct && Allowed(PropertyId.ContentType, scope)) String(ref w, PropertyId.ContentType, ct);
        if (p.ResponseTopic is { } rt && Allowed(PropertyId.ResponseTopic, scope)) String(ref w, PropertyId.ResponseTopic, rt);
        if (p.CorrelationData is { } cd && Allowed(PropertyId.CorrelationData, scope)) Binary(ref w, PropertyId.CorrelationData, cd.Span);
        if (p.SubscriptionIdentifiers is { } ids && Allowed(PropertyId.SubscriptionIdentifier, scope))
        {
            foreach (var id in ids)
            {
                w.WriteByte((byte)PropertyId.SubscriptionIdentifier);
                w.WriteVariableByteInteger(id);
            }
        }
        if (p.SessionExpiryInterval is { } sei && Allowed(PropertyId.SessionExpiryInterval, scope)) UInt32(ref w, PropertyId.SessionExpiryInterval, sei);
        if (p.AssignedClientIdentifier is { } aci && Allowed(PropertyId.AssignedClientIdentifier, scope)) String(ref w, PropertyId.AssignedClientIdentifier, aci);
        if (p.ServerKeepAlive is { } ska && Allowed(PropertyId.ServerKeepAlive, scope)) UInt16(ref w, PropertyId.ServerKeepAlive, ska);
        if (p.AuthenticationMethod is { } am && Allowed(PropertyId.AuthenticationMethod, scope)) String(ref w, PropertyId.AuthenticationMethod, am);
        if (p.AuthenticationData is { } ad && Allowed(PropertyId.AuthenticationData, scope)) Binary(ref w, PropertyId.AuthenticationData, ad.Span);
        if (p.RequestProblemInformation is { } rpi && Allowed(PropertyId.RequestProblemInformation, scope)) Byte(ref w, PropertyId.RequestProblemInformation, rpi);
        if (p.WillDelayInterval is { } wdi && Allowed(PropertyId.WillDelayInterval, scope)) UInt32(ref w, PropertyId.WillDelayInterval, wdi);
        if (p.RequestResponseInformation is { } rri && Allowed(PropertyId.RequestResponseInformation, scope)) Byte(ref w, PropertyId.RequestResponseInformation, rri);
        if (p.ResponseInformation is { } ri && Allowed(PropertyId.ResponseInformation, scope)) String(ref w, PropertyId.ResponseInformation, ri);
        if (p.ServerReference is { } sr && Allowed(PropertyId.ServerReference, scope)) String(ref w, PropertyId.ServerReference, sr);
        if (p.ReasonString is { } rs && Allowed(PropertyId.ReasonString, scope)) String(ref w, PropertyId.ReasonString, rs);
        if (p.ReceiveMaximum is { } rm && Allowed(PropertyId.ReceiveMaximum, scope)) UInt16(ref w, PropertyId.ReceiveMaximum, rm);
        if (p.TopicAliasMaximum is { } tam && Allowed(PropertyId.TopicAliasMaximum, scope)) UInt16(ref w, PropertyId.TopicAliasMaximum, tam);
        if (p.TopicAlias is { } ta && Allowed(PropertyId.TopicAlias, scope)) UInt16(ref w, PropertyId.TopicAlias, ta);
        if (p.MaximumQoS is { } mq && Allowed(PropertyId.MaximumQoS, scope)) Byte(ref w, PropertyId.MaximumQoS, mq);
        if (p.RetainAvailable is { } ra && Allowed(PropertyId.RetainAvailable, scope)) Byte(ref w, PropertyId.RetainAvailable, ra);
        if (p.UserProperties is { } users)
        {
            // Order and duplicates are preserved [MQTT-3.3.2-17].
            foreach (var u in users)
            {
                w.WriteByte((byte)PropertyId.UserProperty);
                w.WriteString(u.Name);
                w.WriteString(u.Value);
            }
        }
        if (p.MaximumPacketSize is { } mps && Allowed(PropertyId.MaximumPacketSize, scope)) UInt32(ref w, PropertyId.MaximumPacketSize, mps);
        if (p.WildcardSubscriptionAvailable is { } wsa && Allowed(PropertyId.WildcardSubscriptionAvailable, scope)) Byte(ref w, PropertyId.WildcardSubscriptionAvailable, wsa);
        if (p.SubscriptionIdentifierAvailable is { } sia && Allowed(PropertyId.SubscriptionIdentifierAvailable, scope)) Byte(ref w, PropertyId.SubscriptionIdentifierAvailable, sia);
        if (p.SharedSubscriptionAvailable is { } ssa && Allowed(PropertyId.SharedSubscriptionAvailable, scope)) Byte(ref w, PropertyId.SharedSubscriptionAvailable, ssa);
        if (w.Position - start != contentLength) throw new InvalidOperationException("Property length changed while encoding.");
    }

    private static bool Allowed(PropertyId id, PropertyScope scope) => PropertyTable.IsAllowed(id, scope);

    private static void Byte(ref MqttBinaryWriter w, PropertyId id, byte value)
    {
        w.WriteByte((byte)id);
        w.WriteByte(value);
    }

    private static void UInt16(ref MqttBinaryWriter w, PropertyId id, ushort value)
    {
        w.WriteByte((byte)id);
        w.WriteUInt16(value);
    }

    private static void UInt32(ref MqttBinaryWriter w, PropertyId id, uint value)
    {
        w.WriteByte((byte)id);
        w.WriteUInt32(value);
    }

    private static void String(ref MqttBinaryWriter w, PropertyId id, string value)
    {
        w.WriteByte((byte)id);
        w.WriteString(value);
    }

    private static void Binary(ref MqttBinaryWriter w, PropertyId id, ReadOnlySpan<byte> value)
    {
        w.WriteByte((byte)id);
        w.WriteBinary(value);
    }
}
