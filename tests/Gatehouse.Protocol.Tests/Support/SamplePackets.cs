using System.Text;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Protocol.Tests.Support;

/// <summary>
/// Representative packets of every type, and every MQTT 5 property with a non-default value. The table of which
/// property is allowed where is written out here independently of the codec's own table (section 2.2.2.2).
/// </summary>
internal static class SamplePackets
{
    /// <summary>Places a property block can appear; "WILL" is the CONNECT Will Properties.</summary>
    public static readonly string[] Locations =
        ["CONNECT", "WILL", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "DISCONNECT", "AUTH"];

    private static readonly string[] Acks = ["CONNACK", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP", "SUBACK", "UNSUBACK", "DISCONNECT", "AUTH"];

    public static readonly IReadOnlyDictionary<PropertyId, string[]> AllowedIn = new Dictionary<PropertyId, string[]>
    {
        [PropertyId.PayloadFormatIndicator] = ["PUBLISH", "WILL"],
        [PropertyId.MessageExpiryInterval] = ["PUBLISH", "WILL"],
        [PropertyId.ContentType] = ["PUBLISH", "WILL"],
        [PropertyId.ResponseTopic] = ["PUBLISH", "WILL"],
        [PropertyId.CorrelationData] = ["PUBLISH", "WILL"],
        [PropertyId.SubscriptionIdentifier] = ["PUBLISH", "SUBSCRIBE"],
        [PropertyId.SessionExpiryInterval] = ["CONNECT", "CONNACK", "DISCONNECT"],
        [PropertyId.AssignedClientIdentifier] = ["CONNACK"],
        [PropertyId.ServerKeepAlive] = ["CONNACK"],
        [PropertyId.AuthenticationMethod] = ["CONNECT", "CONNACK", "AUTH"],
        [PropertyId.AuthenticationData] = ["CONNECT", "CONNACK", "AUTH"],
        [PropertyId.RequestProblemInformation] = ["CONNECT"],
        [PropertyId.WillDelayInterval] = ["WILL"],
        [PropertyId.RequestResponseInformation] = ["CONNECT"],
        [PropertyId.ResponseInformation] = ["CONNACK"],
        [PropertyId.ServerReference] = ["CONNACK", "DISCONNECT"],
        [PropertyId.ReasonString] = Acks,
        [PropertyId.ReceiveMaximum] = ["CONNECT", "CONNACK"],
        [PropertyId.TopicAliasMaximum] = ["CONNECT", "CONNACK"],
        [PropertyId.TopicAlias] = ["PUBLISH"],
        [PropertyId.MaximumQoS] = ["CONNACK"],
        [PropertyId.RetainAvailable] = ["CONNACK"],
        [PropertyId.UserProperty] = Locations,
        [PropertyId.MaximumPacketSize] = ["CONNECT", "CONNACK"],
        [PropertyId.WildcardSubscriptionAvailable] = ["CONNACK"],
        [PropertyId.SubscriptionIdentifierAvailable] = ["CONNACK"],
        [PropertyId.SharedSubscriptionAvailable] = ["CONNACK"],
    };

    public static readonly ProtocolVersion[] Versions = [ProtocolVersion.V310, ProtocolVersion.V311, ProtocolVersion.V500];

    /// <summary>Sets one property to a distinctive value (repeatable ones get several values where allowed).</summary>
    public static void Set(MqttProperties p, PropertyId id, string location)
    {
        switch (id)
        {
            case PropertyId.PayloadFormatIndicator: p.PayloadFormatIndicator = 1; break;
            case PropertyId.MessageExpiryInterval: p.MessageExpiryInterval = 3600; break;
            case PropertyId.ContentType: p.ContentType = "text/plain; charset=ünïcode"; break;
            case PropertyId.ResponseTopic: p.ResponseTopic = "reply/to/me"; break;
            case PropertyId.CorrelationData: p.CorrelationData = new byte[] { 1, 2, 3, 0, 255 }; break;
            case PropertyId.SubscriptionIdentifier: p.SubscriptionIdentifiers = location == "PUBLISH" ? [1, 300, 268_435_455] : [16_384]; break;
            case PropertyId.SessionExpiryInterval: p.SessionExpiryInterval = uint.MaxValue; break;
            case PropertyId.AssignedClientIdentifier: p.AssignedClientIdentifier = "assigned-42"; break;
            case PropertyId.ServerKeepAlive: p.ServerKeepAlive = 30; break;
            case PropertyId.AuthenticationMethod: p.AuthenticationMethod = "SCRAM-SHA-1"; break;
            case PropertyId.AuthenticationData: p.AuthenticationData = new byte[] { 9, 8, 7 }; break;
            case PropertyId.RequestProblemInformation: p.RequestProblemInformation = 0; break;
            case PropertyId.WillDelayInterval: p.WillDelayInterval = 10; break;
            case PropertyId.RequestResponseInformation: p.RequestResponseInformation = 1; break;
            case PropertyId.ResponseInformation: p.ResponseInformation = "responses/"; break;
            case PropertyId.ServerReference: p.ServerReference = "other.example:1883"; break;
            case PropertyId.ReasonString: p.ReasonString = "because \U0001F600"; break;
            case PropertyId.ReceiveMaximum: p.ReceiveMaximum = 10; break;
            case PropertyId.TopicAliasMaximum: p.TopicAliasMaximum = 5; break;
            case PropertyId.TopicAlias: p.TopicAlias = 7; break;
            case PropertyId.MaximumQoS: p.MaximumQoS = 1; break;
            case PropertyId.RetainAvailable: p.RetainAvailable = 0; break;
            case PropertyId.UserProperty: p.UserProperties = [new("a", "1"), new("a", "2"), new("ü", "")]; break;
            case PropertyId.MaximumPacketSize: p.MaximumPacketSize = 1_048_576; break;
            case PropertyId.WildcardSubscriptionAvailable: p.WildcardSubscriptionAvailable = 1; break;
            case PropertyId.SubscriptionIdentifierAvailable: p.SubscriptionIdentifierAvailable = 0; break;
            case PropertyId.SharedSubscriptionAvailable: p.SharedSubscriptionAvailable = 1; break;
            default: throw new ArgumentOutOfRangeException(nameof(id));
        }
    }

    public static MqttProperties AllFor(string location)
    {
        var p = new MqttProperties();
        foreach (var (id, where) in AllowedIn)
        {
            if (where.Contains(location)) Set(p, id, location);
        }
        return p;
    }

    /// <summary>A packet of the given location; <paramref name="properties"/> only for 5.0, reason codes representable in the version.</summary>
    public static MqttPacket Make(string location, ProtocolVersion version, MqttProperties? properties = null)
    {
        var v5 = version == ProtocolVersion.V500;
        if (!v5) properties = null;
        return location switch
        {
            "CONNECT" => Connect(version, properties, willProperties: null),
            "WILL" => Connect(version, properties: null, willProperties: properties),
            "CONNACK" => new ConnAckPacket
            {
                SessionPresent = version != ProtocolVersion.V310,
                ReasonCode = ReasonCode.Success,
                Properties = properties,
            },
            "PUBLISH" => new PublishPacket
            {
                Topic = "sensors/ü/temp",
                Payload = Encoding.UTF8.GetBytes("21.5 °C"),
                QoS = QoS.AtLeastOnce,
                PacketId = 42,
                Retain = true,
                Dup = true,
                Properties = properties,
            },
            "PUBACK" => Flow(new PubAckPacket(), v5 ? ReasonCode.NoMatchingSubscribers : ReasonCode.Success, properties),
            "PUBREC" => Flow(new PubRecPacket(), v5 ? ReasonCode.QuotaExceeded : ReasonCode.Success, properties),
            "PUBREL" => Flow(new PubRelPacket(), v5 ? ReasonCode.PacketIdentifierNotFound : ReasonCode.Success, properties),
            "PUBCOMP" => Flow(new PubCompPacket(), ReasonCode.Success, properties),
            "SUBSCRIBE" => new SubscribePacket
            {
                PacketId = 9,
                Subscriptions =
                [
                    new() { TopicFilter = "a/+/c", MaximumQoS = QoS.AtLeastOnce, NoLocal = v5, RetainAsPublished = v5, RetainHandling = (byte)(v5 ? 1 : 0) },
                    new() { TopicFilter = "#", MaximumQoS = QoS.ExactlyOnce, RetainHandling = (byte)(v5 ? 2 : 0) },
                    new() { TopicFilter = "$share/group/x/y", MaximumQoS = QoS.AtMostOnce },
                ],
                Properties = properties,
            },
            "SUBACK" => new SubAckPacket
            {
                PacketId = 9,
                ReasonCodes = [ReasonCode.GrantedQoS1, ReasonCode.GrantedQoS2, v5 ? ReasonCode.NotAuthorized : ReasonCode.UnspecifiedError, ReasonCode.GrantedQoS0],
                Properties = properties,
            },
            "UNSUBSCRIBE" => new UnsubscribePacket { PacketId = 10, TopicFilters = ["a/+/c", "#"], Properties = properties },
            "UNSUBACK" => new UnsubAckPacket
            {
                PacketId = 10,
                ReasonCodes = v5 ? [ReasonCode.Success, ReasonCode.NoSubscriptionExisted] : [],
                Properties = properties,
            },
            "DISCONNECT" => new DisconnectPacket { ReasonCode = v5 ? ReasonCode.DisconnectWithWillMessage : ReasonCode.NormalDisconnection, Properties = properties },
            "AUTH" => new AuthPacket { ReasonCode = ReasonCode.ContinueAuthentication, Properties = properties },
            "PINGREQ" => PingReqPacket.Instance,
            "PINGRESP" => PingRespPacket.Instance,
            _ => throw new ArgumentOutOfRangeException(nameof(location)),
        };
    }

    /// <summary>Every packet type valid in the version, with all allowed properties in 5.0.</summary>
    public static IEnumerable<(string Name, MqttPacket Packet)> All(ProtocolVersion version)
    {
        foreach (var location in Locations.Append("PINGREQ").Append("PINGRESP"))
        {
            if (location == "AUTH" && version != ProtocolVersion.V500) continue;
            var properties = version == ProtocolVersion.V500 && location is not ("PINGREQ" or "PINGRESP") ? AllFor(location) : null;
            yield return (location, Make(location, version, properties));
        }
        if (version == ProtocolVersion.V500)
        {
            // The short forms and the empty-topic-with-alias PUBLISH.
            yield return ("PUBACK-short", new PubAckPacket { PacketId = 1 });
            yield return ("PUBREC-reason-only", new PubRecPacket { PacketId = 2, ReasonCode = ReasonCode.UnspecifiedError });
            yield return ("DISCONNECT-short", new DisconnectPacket());
            yield return ("DISCONNECT-reason-only", new DisconnectPacket { ReasonCode = ReasonCode.ServerShuttingDown });
            yield return ("AUTH-short", new AuthPacket());
            yield return ("PUBLISH-alias", new PublishPacket { Topic = "", Payload = new byte[] { 0 }, Properties = new MqttProperties { TopicAlias = 3 } });
        }
        yield return ("PUBLISH-qos0-empty", new PublishPacket { Topic = "t" });
        yield return ("CONNECT-minimal", new ConnectPacket { ProtocolName = NameOf(version), ProtocolVersion = version, ClientId = "" });
    }

    private static ConnectPacket Connect(ProtocolVersion version, MqttProperties? properties, MqttProperties? willProperties) => new()
    {
        ProtocolName = NameOf(version),
        ProtocolVersion = version,
        CleanStart = true,
        KeepAliveSeconds = 60,
        ClientId = "client-ü-1",
        UserName = "user",
        Password = new byte[] { 1, 2, 3, 0 },
        Will = new WillMessage
        {
            Topic = "devices/client-1/status",
            Payload = Encoding.UTF8.GetBytes("offline"),
            QoS = QoS.AtLeastOnce,
            Retain = true,
            Properties = willProperties,
        },
        Properties = properties,
    };

    private static string NameOf(ProtocolVersion version) => version == ProtocolVersion.V310 ? "MQIsdp" : "MQTT";

    private static PublishFlowPacket Flow(PublishFlowPacket packet, ReasonCode reasonCode, MqttProperties? properties)
    {
        packet.PacketId = 7;
        packet.ReasonCode = reasonCode;
        packet.Properties = properties;
        return packet;
    }
}
