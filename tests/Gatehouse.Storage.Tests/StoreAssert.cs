using Gatehouse.Protocol;

namespace Gatehouse.Storage.Tests;

/// <summary>Field-by-field comparisons: the records hold messages and lists, which compare by reference.</summary>
internal static class StoreAssert
{
    public static void Message(ApplicationMessage expected, ApplicationMessage actual)
    {
        Assert.Equal(expected.Id, actual.Id);
        Assert.Equal(expected.Topic, actual.Topic);
        Assert.Equal(expected.Payload.ToArray(), actual.Payload.ToArray());
        Assert.Equal(expected.QoS, actual.QoS);
        Assert.Equal(expected.Retain, actual.Retain);
        Assert.Equal(expected.ExpiresAt, actual.ExpiresAt);
        Assert.Equal(expected.PublisherClientId, actual.PublisherClientId);
        Properties(expected.Properties, actual.Properties);
    }

    public static void Properties(MqttProperties? expected, MqttProperties? actual)
    {
        if (expected is null)
        {
            Assert.Null(actual);
            return;
        }
        Assert.NotNull(actual);
        Assert.Equal(expected.PayloadFormatIndicator, actual.PayloadFormatIndicator);
        Assert.Equal(expected.ContentType, actual.ContentType);
        Assert.Equal(expected.ResponseTopic, actual.ResponseTopic);
        Assert.Equal(expected.CorrelationData?.ToArray(), actual.CorrelationData?.ToArray());
        Assert.Equal(expected.UserProperties, actual.UserProperties);
    }

    public static void Session(SessionRecord expected, SessionRecord actual)
    {
        Assert.Equal(expected.ClientId, actual.ClientId);
        Assert.Equal(expected.ProtocolVersion, actual.ProtocolVersion);
        Assert.Equal(expected.ExpiryIntervalSeconds, actual.ExpiryIntervalSeconds);
        Assert.Equal(expected.DisconnectedAt, actual.DisconnectedAt);
        if (expected.ArmedWill is null)
        {
            Assert.Null(actual.ArmedWill);
        }
        else
        {
            Assert.NotNull(actual.ArmedWill);
            Assert.Equal((expected.ArmedWill.DelaySeconds, expected.ArmedWill.MessageExpirySeconds),
                (actual.ArmedWill.DelaySeconds, actual.ArmedWill.MessageExpirySeconds));
            Message(expected.ArmedWill.Message, actual.ArmedWill.Message);
        }
        if (expected.PendingWill is null)
        {
            Assert.Null(actual.PendingWill);
            return;
        }
        Assert.NotNull(actual.PendingWill);
        Assert.Equal(expected.PendingWill.PublishAt, actual.PendingWill.PublishAt);
        Message(expected.PendingWill.Message, actual.PendingWill.Message);
    }

    public static void Delivery(QueuedDeliveryRecord expected, StoredDelivery actual, long messageId, ushort packetId = 0,
        DeliveryState state = DeliveryState.Queued)
    {
        Assert.Equal(messageId, actual.MessageId);
        Assert.Equal(packetId, actual.PacketId);
        Assert.Equal(state, actual.State);
        Assert.Equal(expected.ClientId, actual.Delivery.ClientId);
        Assert.Equal(expected.QoS, actual.Delivery.QoS);
        Assert.Equal(expected.Retain, actual.Delivery.Retain);
        Assert.Equal(expected.SubscriptionIdentifiers ?? [], actual.Delivery.SubscriptionIdentifiers ?? []);
        Assert.Equal(expected.ShareGroup, actual.Delivery.ShareGroup);
    }
}
