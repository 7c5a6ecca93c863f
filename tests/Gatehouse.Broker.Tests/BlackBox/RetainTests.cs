using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.BlackBox;

/// <summary>Retained messages: store, replace, delete, Retain Handling, Retain As Published, expiry.</summary>
public sealed class RetainTests(ServerFixture fixture, ITestOutputHelper output)
    : BlackBoxTest(fixture, output), IClassFixture<ServerFixture>
{
    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task RetainedMessage_IsSentToNewSubscribersWithRetainSet(ProtocolVersion version)
    {
        // [MQTT-3.3.1-5] stored; [MQTT-3.3.1-6] sent to new subscriptions; [MQTT-3.3.1-8] with RETAIN 1.
        var topic = NewTopic();
        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "retained", QoS.AtLeastOnce, retain: true);

        var subscriber = await ConnectAsync(version);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        var received = await subscriber.ReceivePublishAsync();
        Assert.Equal(topic, received.Topic);
        Assert.Equal("retained", Text(received.Payload));
        Assert.True(received.Retain);
        Assert.Equal(QoS.AtLeastOnce, received.QoS);
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task RetainedMessage_IsReplacedByTheNextRetainedPublish(ProtocolVersion version)
    {
        // [MQTT-3.3.1-5]: the new retained message replaces the old one for that topic.
        var topic = NewTopic();
        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "old", QoS.AtLeastOnce, retain: true);
        await publisher.PublishAsync(topic, "new", QoS.AtLeastOnce, retain: true);

        var subscriber = await ConnectAsync(version);
        await subscriber.SubscribeGrantedAsync(topic);
        Assert.Equal("new", Text((await subscriber.ReceivePublishAsync()).Payload));
        await subscriber.ExpectNoPacketAsync();
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task RetainedMessage_IsDeletedByAnEmptyRetainedPublish(ProtocolVersion version)
    {
        // [MQTT-3.3.1-10], [MQTT-3.3.1-11]: a zero-byte retained message removes the retained message.
        var topic = NewTopic();
        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "soon gone", QoS.AtLeastOnce, retain: true);
        await publisher.PublishAsync(topic, ReadOnlyMemory<byte>.Empty, QoS.AtLeastOnce, retain: true);

        var subscriber = await ConnectAsync(version);
        await subscriber.SubscribeGrantedAsync(topic);
        await subscriber.ExpectNoPacketAsync();
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task RetainedMessages_MatchingAWildcard_AreAllSent(ProtocolVersion version)
    {
        var root = NewTopic();
        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(root + "/a", "A", QoS.AtLeastOnce, retain: true);
        await publisher.PublishAsync(root + "/b/c", "BC", QoS.AtLeastOnce, retain: true);
        await publisher.PublishAsync(root + "/not-retained", "N", QoS.AtLeastOnce);

        var subscriber = await ConnectAsync(version);
        await subscriber.SubscribeGrantedAsync(root + "/#");
        var received = await subscriber.ReceivePublishesAsync(2);
        Assert.Equal(["A", "BC"], received.Select(p => Text(p.Payload)).Order(StringComparer.Ordinal));
        Assert.All(received, p => Assert.True(p.Retain));
        await subscriber.ExpectNoPacketAsync();
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task RetainedMessage_IsSentAtTheMinimumOfStoredAndGrantedQos(ProtocolVersion version)
    {
        var topic = NewTopic();
        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "q2", QoS.ExactlyOnce, retain: true);
        var subscriber = await ConnectAsync(version);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        var received = await subscriber.ReceivePublishAsync();
        Assert.Equal(QoS.AtLeastOnce, received.QoS);
        Assert.True(received.Retain);
    }

    [Fact]
    public async Task V311_LiveDelivery_ClearsTheRetainFlag()
    {
        // [MQTT-3.3.1-9] (3.1.1): RETAIN 0 when sent to an established subscription.
        var topic = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V311);
        await subscriber.SubscribeGrantedAsync(topic);
        var publisher = await ConnectAsync(ProtocolVersion.V311);
        await publisher.PublishAsync(topic, "live", QoS.AtLeastOnce, retain: true);
        Assert.False((await subscriber.ReceivePublishAsync()).Retain);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task V5_RetainAsPublished_ControlsTheRetainFlagOnLiveDelivery(bool retainAsPublished)
    {
        // [MQTT-3.3.1-12]: RAP 0 → RETAIN 0; [MQTT-3.3.1-13]: RAP 1 → RETAIN as published.
        var topic = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V500);
        await subscriber.SubscribeGrantedAsync(topic, retainAsPublished: retainAsPublished);
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, "retained", QoS.AtLeastOnce, retain: true);
        await publisher.PublishAsync(topic, "plain", QoS.AtLeastOnce, retain: false);

        var retained = await subscriber.ReceivePublishAsync();
        var plain = await subscriber.ReceivePublishAsync();
        Assert.Equal(retainAsPublished, retained.Retain);
        Assert.False(plain.Retain);
    }

    [Fact]
    public async Task V5_RetainHandling0_SendsRetainedOnEverySubscribe()
    {
        // [MQTT-3.3.1-9] (5.0): Retain Handling 0 → retained messages sent at each SUBSCRIBE, even a repeated one.
        var topic = NewTopic();
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, "r", QoS.AtLeastOnce, retain: true);
        var subscriber = await ConnectAsync(ProtocolVersion.V500);
        await subscriber.SubscribeGrantedAsync(topic, retainHandling: 0);
        Assert.Equal("r", Text((await subscriber.ReceivePublishAsync()).Payload));
        await subscriber.SubscribeGrantedAsync(topic, retainHandling: 0);
        Assert.Equal("r", Text((await subscriber.ReceivePublishAsync()).Payload));
    }

    [Fact]
    public async Task V5_RetainHandling1_SendsRetainedOnlyForANewSubscription()
    {
        // [MQTT-3.3.1-10] (5.0): only if the subscription did not already exist.
        var topic = NewTopic();
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, "r", QoS.AtLeastOnce, retain: true);
        var subscriber = await ConnectAsync(ProtocolVersion.V500);
        await subscriber.SubscribeGrantedAsync(topic, retainHandling: 1);
        Assert.Equal("r", Text((await subscriber.ReceivePublishAsync()).Payload));
        await subscriber.SubscribeGrantedAsync(topic, retainHandling: 1);
        await subscriber.ExpectNoPacketAsync();
    }

    [Fact]
    public async Task V5_RetainHandling2_NeverSendsRetained()
    {
        // [MQTT-3.3.1-11] (5.0).
        var topic = NewTopic();
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, "r", QoS.AtLeastOnce, retain: true);
        var subscriber = await ConnectAsync(ProtocolVersion.V500);
        await subscriber.SubscribeGrantedAsync(topic, retainHandling: 2);
        await subscriber.ExpectNoPacketAsync();
        // ... but live messages still flow.
        await publisher.PublishAsync(topic, "live", QoS.AtLeastOnce);
        Assert.Equal("live", Text((await subscriber.ReceivePublishAsync()).Payload));
    }

    [Fact]
    public async Task V5_RetainedMessage_ExpiresWithItsMessageExpiryInterval()
    {
        // [MQTT-3.3.2-5]: an expired retained message is no longer sent; a live one carries the remaining interval.
        var root = NewTopic();
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(root + "/short", "short", QoS.AtLeastOnce, retain: true, new MqttProperties { MessageExpiryInterval = 1 });
        await publisher.PublishAsync(root + "/long", "long", QoS.AtLeastOnce, retain: true, new MqttProperties { MessageExpiryInterval = 100 });
        await Task.Delay(TimeSpan.FromSeconds(2.2)); // the expiry itself is what we wait for

        var subscriber = await ConnectAsync(ProtocolVersion.V500);
        await subscriber.SubscribeGrantedAsync(root + "/#");
        var received = await subscriber.ReceivePublishAsync();
        Assert.Equal("long", Text(received.Payload));
        Assert.InRange(received.Properties?.MessageExpiryInterval ?? 0, 90u, 98u);
        await subscriber.ExpectNoPacketAsync();
    }

    [Fact]
    public async Task V5_RetainedMessage_KeepsItsProperties()
    {
        var topic = NewTopic();
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, "r", QoS.AtLeastOnce, retain: true, new MqttProperties
        {
            ContentType = "application/x", UserProperties = [new("k", "v1"), new("k", "v2")], ResponseTopic = topic + "/resp",
        });
        var subscriber = await ConnectAsync(ProtocolVersion.V500);
        await subscriber.SubscribeGrantedAsync(topic);
        var p = (await subscriber.ReceivePublishAsync()).Properties;
        Assert.Equal("application/x", p?.ContentType);
        Assert.Equal(topic + "/resp", p?.ResponseTopic);
        Assert.Equal([new UserProperty("k", "v1"), new UserProperty("k", "v2")], p?.UserProperties ?? []);
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task RetainedQos0Message_IsStored(ProtocolVersion version)
    {
        // [MQTT-3.3.1-7] (3.1.1): a QoS 0 retained message replaces the stored one (SHOULD store it).
        var topic = NewTopic();
        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "q0", QoS.AtMostOnce, retain: true);
        await publisher.PingAsync(); // processed in order: the PUBLISH before the PINGREQ

        var subscriber = await ConnectAsync(version);
        await subscriber.SubscribeGrantedAsync(topic);
        var received = await subscriber.ReceivePublishAsync();
        Assert.Equal("q0", Text(received.Payload));
        Assert.True(received.Retain);
    }

    [Fact]
    public async Task V5_RetainedMessageSentOnSubscribe_CarriesTheSubscriptionIdentifier()
    {
        // [MQTT-3.3.4-3]: a message published as the result of a subscription carries its Subscription Identifier.
        var topic = NewTopic();
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, "r", QoS.AtLeastOnce, retain: true);
        var subscriber = await ConnectAsync(ProtocolVersion.V500);
        await subscriber.SubscribeGrantedAsync(topic, properties: new MqttProperties { SubscriptionIdentifiers = [99] });
        var received = await subscriber.ReceivePublishAsync();
        Assert.True(received.Retain);
        Assert.Equal([99u], received.Properties?.SubscriptionIdentifiers ?? []);
    }
}
