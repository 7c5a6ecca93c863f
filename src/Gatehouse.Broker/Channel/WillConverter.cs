using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Broker.Channel;

/// <summary>Turns the will of CONNECT into the application message published for it.</summary>
internal static class WillConverter
{
    public static ApplicationMessage ToMessage(WillMessage will, string clientId, BrokerContext context, uint delaySeconds)
    {
        var properties = will.Properties;
        var publishAt = context.Now.AddSeconds(delaySeconds);
        return new ApplicationMessage
        {
            Topic = will.Topic,
            Payload = will.Payload,
            QoS = will.QoS,
            Retain = will.Retain,
            Properties = ForwardableProperties.From(properties),
            // The Message Expiry Interval of a will counts from when it is published.
            ExpiresAt = properties?.MessageExpiryInterval is { } expiry ? publishAt.AddSeconds(expiry) : null,
            PublisherClientId = clientId,
            Id = context.NextMessageId(),
        };
    }
}
