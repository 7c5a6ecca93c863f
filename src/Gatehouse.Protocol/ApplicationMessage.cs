namespace Gatehouse.Protocol;

/// <summary>
/// An application message as the broker keeps it once accepted: immutable, shared by every session queue that holds
/// it, encoded per recipient when sent.
/// </summary>
public sealed class ApplicationMessage
{
    public required string Topic { get; init; }
    public ReadOnlyMemory<byte> Payload { get; init; }
    /// <summary>The QoS it was published with; each delivery is downgraded to its subscription's maximum.</summary>
    public QoS QoS { get; init; }
    public bool Retain { get; init; }
    /// <summary>
    /// The properties forwarded unaltered [MQTT-3.3.2-17..20]: Payload Format Indicator, Content Type, Response Topic,
    /// Correlation Data, User Properties. Never Topic Alias, Subscription Identifiers or Message Expiry Interval,
    /// which are per delivery.
    /// </summary>
    public MqttProperties? Properties { get; init; }
    /// <summary>When the Message Expiry Interval runs out; null if it never expires.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }
    /// <summary>Client id of the publisher (No Local) or null for server-originated messages.</summary>
    public string? PublisherClientId { get; init; }
    /// <summary>Broker-wide unique id; keys the stored body.</summary>
    public long Id { get; init; }

    public bool IsExpired(DateTimeOffset now) => ExpiresAt is { } at && at <= now;

    /// <summary>Seconds left, rounded up, for the forwarded Message Expiry Interval [MQTT-3.3.2-6].</summary>
    public uint? RemainingExpirySeconds(DateTimeOffset now)
    {
        if (ExpiresAt is not { } at) return null;
        var left = (at - now).TotalSeconds;
        return left <= 0 ? 0u : (uint)Math.Min(uint.MaxValue, Math.Ceiling(left));
    }
}
