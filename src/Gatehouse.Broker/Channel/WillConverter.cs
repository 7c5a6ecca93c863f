using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Storage;

namespace Gatehouse.Broker.Channel;

/// <summary>Turns the will of CONNECT into the application message published for it, or kept for it in the store.</summary>
internal static class WillConverter
{
    public static ApplicationMessage ToMessage(WillMessage will, string clientId, BrokerContext context, uint delaySeconds)
    {
        var publishAt = context.Now.AddSeconds(delaySeconds);
        return Build(will, clientId, context.NextMessageId(), ExpiresAt(publishAt, will.Properties?.MessageExpiryInterval));
    }

    /// <summary>The will of a connected client as the store keeps it with the session (see <see cref="ArmedWillRecord"/>).</summary>
    public static ArmedWillRecord ToArmed(WillMessage will, string clientId, BrokerContext context) =>
        new(Build(will, clientId, context.NextMessageId(), expiresAt: null), will.Properties?.WillDelayInterval ?? 0,
            will.Properties?.MessageExpiryInterval);

    /// <summary>A recovered armed will, to be published at <paramref name="publishAt"/>.</summary>
    public static ApplicationMessage FromArmed(ArmedWillRecord armed, DateTimeOffset publishAt)
    {
        var m = armed.Message;
        return new ApplicationMessage
        {
            Topic = m.Topic,
            Payload = m.Payload,
            QoS = m.QoS,
            Retain = m.Retain,
            Properties = m.Properties,
            ExpiresAt = ExpiresAt(publishAt, armed.MessageExpirySeconds),
            PublisherClientId = m.PublisherClientId,
            Id = m.Id,
        };
    }

    private static ApplicationMessage Build(WillMessage will, string clientId, long id, DateTimeOffset? expiresAt) => new()
    {
        Topic = will.Topic,
        Payload = will.Payload,
        QoS = will.QoS,
        Retain = will.Retain,
        Properties = ForwardableProperties.From(will.Properties),
        ExpiresAt = expiresAt,
        PublisherClientId = clientId,
        Id = id,
    };

    // The Message Expiry Interval of a will counts from when it is published.
    private static DateTimeOffset? ExpiresAt(DateTimeOffset publishAt, uint? expirySeconds) =>
        expirySeconds is { } expiry ? publishAt.AddSeconds(expiry) : null;
}
