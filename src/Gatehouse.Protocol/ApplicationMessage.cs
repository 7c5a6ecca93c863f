namespace Gatehouse.Protocol;

/// <summary>
/// An application message as the broker keeps it once accepted: immutable, shared by every session queue that holds
/// it, encoded per recipient when sent.
/// </summary>
/// <remarks>
/// The broker reuses the message of a QoS 0 PUBLISH that nothing kept once it was passed on (<see cref="Reuse"/>): its
/// properties are fields so that reuse can set them; to everyone else they are init-only.
/// </remarks>
public sealed class ApplicationMessage
{
    private string _topic = "";
    private ReadOnlyMemory<byte> _payload;
    private QoS _qos;
    private bool _retain;
    private MqttProperties? _properties;
    private DateTimeOffset? _expiresAt;
    private string? _publisherClientId;
    private long _id;

    public required string Topic { get => _topic; init => _topic = value; }
    public ReadOnlyMemory<byte> Payload { get => _payload; init => _payload = value; }
    /// <summary>The QoS it was published with; each delivery is downgraded to its subscription's maximum.</summary>
    public QoS QoS { get => _qos; init => _qos = value; }
    public bool Retain { get => _retain; init => _retain = value; }
    /// <summary>
    /// The properties forwarded unaltered [MQTT-3.3.2-17..20]: Payload Format Indicator, Content Type, Response Topic,
    /// Correlation Data, User Properties. Never Topic Alias, Subscription Identifiers or Message Expiry Interval,
    /// which are per delivery.
    /// </summary>
    public MqttProperties? Properties { get => _properties; init => _properties = value; }
    /// <summary>When the Message Expiry Interval runs out; null if it never expires.</summary>
    public DateTimeOffset? ExpiresAt { get => _expiresAt; init => _expiresAt = value; }
    /// <summary>Client id of the publisher (No Local) or null for server-originated messages.</summary>
    public string? PublisherClientId { get => _publisherClientId; init => _publisherClientId = value; }
    /// <summary>Broker-wide unique id; keys the stored body.</summary>
    public long Id { get => _id; init => _id = value; }

    public bool IsExpired(DateTimeOffset now) => ExpiresAt is { } at && at <= now;

    /// <summary>Seconds left, rounded up, for the forwarded Message Expiry Interval [MQTT-3.3.2-6].</summary>
    public uint? RemainingExpirySeconds(DateTimeOffset now)
    {
        if (ExpiresAt is not { } at) return null;
        var left = (at - now).TotalSeconds;
        return left <= 0 ? 0u : (uint)Math.Min(uint.MaxValue, Math.Ceiling(left));
    }

    /// <summary>
    /// Makes a message nobody holds any more into a new one (the broker's pool of QoS 0 messages). With
    /// <paramref name="topic"/> null it only drops what the last use referenced.
    /// </summary>
    internal void Reuse(string? topic, ReadOnlyMemory<byte> payload, QoS qos, bool retain, MqttProperties? properties,
        DateTimeOffset? expiresAt, string? publisherClientId, long id)
    {
        _topic = topic ?? "";
        _payload = payload;
        _qos = qos;
        _retain = retain;
        _properties = properties;
        _expiresAt = expiresAt;
        _publisherClientId = publisherClientId;
        _id = id;
    }
}
