namespace Gatehouse.Protocol.Codec;

/// <summary>Where a property block sits; a property is allowed in a set of these (table in section 2.2.2.2).</summary>
[Flags]
internal enum PropertyScope : ushort
{
    None = 0,
    Connect = 1 << 0,
    ConnAck = 1 << 1,
    Publish = 1 << 2,
    Will = 1 << 3,
    /// <summary>PUBACK, PUBREC, PUBREL and PUBCOMP allow the same set.</summary>
    PublishFlow = 1 << 4,
    Subscribe = 1 << 5,
    SubAck = 1 << 6,
    Unsubscribe = 1 << 7,
    UnsubAck = 1 << 8,
    Disconnect = 1 << 9,
    Auth = 1 << 10,
    All = Connect | ConnAck | Publish | Will | PublishFlow | Subscribe | SubAck | Unsubscribe | UnsubAck | Disconnect | Auth,
}

/// <summary>The data type of a property value (section 1.5).</summary>
internal enum PropertyType : byte
{
    Unknown = 0,
    Byte,
    TwoByteInteger,
    FourByteInteger,
    VariableByteInteger,
    Utf8String,
    BinaryData,
    Utf8StringPair,
}

internal readonly record struct PropertyInfo(PropertyType Type, PropertyScope AllowedIn);

/// <summary>Data type and allowed packets of every MQTT 5 property, indexed by identifier.</summary>
internal static class PropertyTable
{
    /// <summary>Identifiers are below 64, so a ulong bitmask tracks which ones a block has seen.</summary>
    public const int Size = 64;

    private static readonly PropertyInfo[] Table = Build();

    public static PropertyInfo Get(byte id) => id < Size ? Table[id] : default;

    private static PropertyInfo[] Build()
    {
        var t = new PropertyInfo[Size];
        const PropertyScope message = PropertyScope.Publish | PropertyScope.Will;
        const PropertyScope acks = PropertyScope.ConnAck | PropertyScope.PublishFlow | PropertyScope.SubAck |
                                   PropertyScope.UnsubAck | PropertyScope.Disconnect | PropertyScope.Auth;
        Set(t, PropertyId.PayloadFormatIndicator, PropertyType.Byte, message);
        Set(t, PropertyId.MessageExpiryInterval, PropertyType.FourByteInteger, message);
        Set(t, PropertyId.ContentType, PropertyType.Utf8String, message);
        Set(t, PropertyId.ResponseTopic, PropertyType.Utf8String, message);
        Set(t, PropertyId.CorrelationData, PropertyType.BinaryData, message);
        Set(t, PropertyId.SubscriptionIdentifier, PropertyType.VariableByteInteger, PropertyScope.Publish | PropertyScope.Subscribe);
        Set(t, PropertyId.SessionExpiryInterval, PropertyType.FourByteInteger, PropertyScope.Connect | PropertyScope.ConnAck | PropertyScope.Disconnect);
        Set(t, PropertyId.AssignedClientIdentifier, PropertyType.Utf8String, PropertyScope.ConnAck);
        Set(t, PropertyId.ServerKeepAlive, PropertyType.TwoByteInteger, PropertyScope.ConnAck);
        Set(t, PropertyId.AuthenticationMethod, PropertyType.Utf8String, PropertyScope.Connect | PropertyScope.ConnAck | PropertyScope.Auth);
        Set(t, PropertyId.AuthenticationData, PropertyType.BinaryData, PropertyScope.Connect | PropertyScope.ConnAck | PropertyScope.Auth);
        Set(t, PropertyId.RequestProblemInformation, PropertyType.Byte, PropertyScope.Connect);
        Set(t, PropertyId.WillDelayInterval, PropertyType.FourByteInteger, PropertyScope.Will);
        Set(t, PropertyId.RequestResponseInformation, PropertyType.Byte, PropertyScope.Connect);
        Set(t, PropertyId.ResponseInformation, PropertyType.Utf8String, PropertyScope.ConnAck);
        Set(t, PropertyId.ServerReference, PropertyType.Utf8String, PropertyScope.ConnAck | PropertyScope.Disconnect);
        Set(t, PropertyId.ReasonString, PropertyType.Utf8String, acks);
        Set(t, PropertyId.ReceiveMaximum, PropertyType.TwoByteInteger, PropertyScope.Connect | PropertyScope.ConnAck);
        Set(t, PropertyId.TopicAliasMaximum, PropertyType.TwoByteInteger, PropertyScope.Connect | PropertyScope.ConnAck);
        Set(t, PropertyId.TopicAlias, PropertyType.TwoByteInteger, PropertyScope.Publish);
        Set(t, PropertyId.MaximumQoS, PropertyType.Byte, PropertyScope.ConnAck);
        Set(t, PropertyId.RetainAvailable, PropertyType.Byte, PropertyScope.ConnAck);
        Set(t, PropertyId.UserProperty, PropertyType.Utf8StringPair, PropertyScope.All);
        Set(t, PropertyId.MaximumPacketSize, PropertyType.FourByteInteger, PropertyScope.Connect | PropertyScope.ConnAck);
        Set(t, PropertyId.WildcardSubscriptionAvailable, PropertyType.Byte, PropertyScope.ConnAck);
        Set(t, PropertyId.SubscriptionIdentifierAvailable, PropertyType.Byte, PropertyScope.ConnAck);
        Set(t, PropertyId.SharedSubscriptionAvailable, PropertyType.Byte, PropertyScope.ConnAck);
        return t;
    }

    private static void Set(PropertyInfo[] table, PropertyId id, PropertyType type, PropertyScope allowedIn) =>
        table[(byte)id] = new PropertyInfo(type, allowedIn);

    public static bool IsAllowed(PropertyId id, PropertyScope scope) => (Get((byte)id).AllowedIn & scope) != 0;
}
