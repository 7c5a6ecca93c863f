using Gatehouse.Protocol;

namespace Gatehouse.Broker.Channel;

/// <summary>The properties a PUBLISH (or will) carries on to subscribers unaltered [MQTT-3.3.2-17..20].</summary>
internal static class ForwardableProperties
{
    public static MqttProperties? From(MqttProperties? source)
    {
        if (source is null) return null;
        if (source.PayloadFormatIndicator is null && source.ContentType is null && source.ResponseTopic is null
            && source.CorrelationData is null && source.UserProperties is null) return null;
        return new MqttProperties
        {
            PayloadFormatIndicator = source.PayloadFormatIndicator,
            ContentType = source.ContentType,
            ResponseTopic = source.ResponseTopic,
            CorrelationData = source.CorrelationData,
            UserProperties = source.UserProperties,
        };
    }
}
