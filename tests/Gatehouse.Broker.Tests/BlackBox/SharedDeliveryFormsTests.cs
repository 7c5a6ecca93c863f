using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.BlackBox;

/// <summary>
/// The router's allocation-free paths: one matching subscription routed without a per-session plan, one delivery shared
/// by every session that gets the same form, and a 3.1.1 QoS 0 PUBLISH shared by its recipients (the decoded PUBLISH
/// itself when it already is that form). Each recipient must still get exactly its own form.
/// </summary>
public sealed class SharedDeliveryFormsTests(ServerFixture fixture, ITestOutputHelper output)
    : BlackBoxTest(fixture, output), IClassFixture<ServerFixture>
{
    [Fact]
    public async Task V5_NoLocal_OnTheOnlyMatchingSubscription_SuppressesOwnMessagesButNotOthers()
    {
        // [MQTT-3.8.3-3] on the single-subscription path.
        var topic = NewTopic();
        var client = await ConnectAsync(ProtocolVersion.V500);
        await client.SubscribeGrantedAsync(topic, QoS.AtMostOnce, noLocal: true);
        await client.PublishAsync(topic, "own");
        await client.ExpectNoPacketAsync();

        var other = await ConnectAsync(ProtocolVersion.V500);
        await other.PublishAsync(topic, "foreign");
        Assert.Equal("foreign", Text((await client.ReceivePublishAsync()).Payload));
    }

    [Fact]
    public async Task V5_OnlyMatchingSubscription_WithAnIdentifier_CarriesIt_AndAPlainOneDoesNot()
    {
        // [MQTT-3.3.4-3]: identifiers are per session even when other sessions share the message's delivery.
        var topic = NewTopic();
        var withId = await ConnectAsync(ProtocolVersion.V500);
        await withId.SubscribeGrantedAsync(topic, properties: new MqttProperties { SubscriptionIdentifiers = [7] });
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, "one");
        Assert.Equal([7u], (await withId.ReceivePublishAsync()).Properties?.SubscriptionIdentifiers ?? []);

        var plain = await ConnectAsync(ProtocolVersion.V500);
        await plain.SubscribeGrantedAsync(topic);
        await publisher.PublishAsync(topic, "two");
        Assert.Equal([7u], (await withId.ReceivePublishAsync()).Properties?.SubscriptionIdentifiers ?? []);
        Assert.Null((await plain.ReceivePublishAsync()).Properties?.SubscriptionIdentifiers);
    }

    [Fact]
    public async Task V5Qos0PublishWithProperties_V311SubscribersGetExactPlainBytes_V5SubscriberGetsTheProperties()
    {
        var topic = NewTopic();
        var v311a = await ConnectAsync(ProtocolVersion.V311);
        await v311a.SubscribeGrantedAsync(topic);
        var v311b = await ConnectAsync(ProtocolVersion.V311);
        await v311b.SubscribeGrantedAsync(topic);
        var v5 = await ConnectAsync(ProtocolVersion.V500);
        await v5.SubscribeGrantedAsync(topic);
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, "xyz", properties: new MqttProperties
        {
            ContentType = "text/plain", UserProperties = [new("k", "v")], MessageExpiryInterval = 100,
        });

        var topicBytes = Bytes(topic);
        byte[] expected = [0x30, (byte)(2 + topicBytes.Length + 3), 0x00, (byte)topicBytes.Length, .. topicBytes, (byte)'x', (byte)'y', (byte)'z'];
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(await v311a.ReceiveRawAsync()));
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(await v311b.ReceiveRawAsync()));
        var received = await v5.ReceivePublishAsync();
        Assert.Equal("text/plain", received.Properties?.ContentType);
        Assert.Equal([new("k", "v")], received.Properties?.UserProperties ?? []);
        Assert.InRange(received.Properties?.MessageExpiryInterval ?? 0, 1u, 100u);
    }

    [Fact]
    public async Task RetainedQos0Publish_LiveCopyHasRetainCleared_UnlessRetainAsPublished()
    {
        // [MQTT-3.3.1-12] / [MQTT-3.3.1-13]: the decoded PUBLISH (Retain 1) is not the 3.1.1 subscribers' form here.
        var topic = NewTopic();
        var v311 = await ConnectAsync(ProtocolVersion.V311);
        await v311.SubscribeGrantedAsync(topic);
        var asPublished = await ConnectAsync(ProtocolVersion.V500);
        await asPublished.SubscribeGrantedAsync(topic, retainAsPublished: true);
        var publisher = await ConnectAsync(ProtocolVersion.V311);
        await publisher.PublishAsync(topic, "r", retain: true);

        var raw = await v311.ReceiveRawAsync();
        Assert.Equal(0x30, raw[0]);
        Assert.True((await asPublished.ReceivePublishAsync()).Retain);
        await publisher.PublishAsync(topic, "", retain: true); // clears the retained message
    }

    [Fact]
    public async Task V5PublisherUsingATopicAlias_V311SubscriberGetsTheFullTopicEveryTime()
    {
        var topic = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V311);
        await subscriber.SubscribeGrantedAsync(topic);
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(new PublishPacket { Topic = topic, Payload = Bytes("a"), Properties = new MqttProperties { TopicAlias = 1 } });
        await publisher.PublishAsync(new PublishPacket { Topic = "", Payload = Bytes("b"), Properties = new MqttProperties { TopicAlias = 1 } });

        var received = await subscriber.ReceivePublishesAsync(2);
        Assert.Equal([topic, topic], received.Select(p => p.Topic));
        Assert.Equal(["a", "b"], received.Select(p => Text(p.Payload)));
    }

    [Fact]
    public async Task FanOut_V5SubscriberWithTopicAliases_DoesNotChangeWhatV311SubscribersGet()
    {
        // The writer of a 5.0 connection rewrites its PUBLISH for a Topic Alias; a 3.1.1 connection's shared packet stays whole.
        var topic = NewTopic();
        var v5 = await ConnectAsync(ProtocolVersion.V500, properties: new MqttProperties { TopicAliasMaximum = 5 });
        await v5.SubscribeGrantedAsync(topic);
        var v311 = new[] { await ConnectAsync(ProtocolVersion.V311), await ConnectAsync(ProtocolVersion.V311) };
        foreach (var client in v311) await client.SubscribeGrantedAsync(topic);
        var publisher = await ConnectAsync(ProtocolVersion.V311);
        for (var i = 0; i < 3; i++) await publisher.PublishAsync(topic, $"m{i}");

        var aliased = await v5.ReceivePublishesAsync(3);
        Assert.Contains(aliased, p => p.Topic.Length == 0 && p.Properties?.TopicAlias is not null);
        foreach (var client in v311)
        {
            var received = await client.ReceivePublishesAsync(3);
            Assert.All(received, p => Assert.Equal(topic, p.Topic));
            Assert.Equal(["m0", "m1", "m2"], received.Select(p => Text(p.Payload)));
        }
    }

    [Fact]
    public async Task FanOut_V5Qos0_PlainSubscribersShareOneForm_AliasAndIdentifierSubscribersGetTheirOwn()
    {
        // 5.0 recipients that take no Topic Alias share one PUBLISH per message; the writer of a connection that takes
        // aliases rewrites its own copy, and a Subscription Identifier is its session's alone [MQTT-3.3.4-3].
        var topic = NewTopic();
        // The aliasing subscriber first: its writer then runs before the others' in each fan-out.
        var aliasing = await ConnectAsync(ProtocolVersion.V500, properties: new MqttProperties { TopicAliasMaximum = 5 });
        await aliasing.SubscribeGrantedAsync(topic);
        var plain = new[] { await ConnectAsync(ProtocolVersion.V500), await ConnectAsync(ProtocolVersion.V500) };
        foreach (var client in plain) await client.SubscribeGrantedAsync(topic);
        var withId = await ConnectAsync(ProtocolVersion.V500);
        await withId.SubscribeGrantedAsync(topic, properties: new MqttProperties { SubscriptionIdentifiers = [9] });
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        for (var i = 0; i < 3; i++)
        {
            await publisher.PublishAsync(topic, $"m{i}", properties: new MqttProperties { ContentType = "text/plain", UserProperties = [new("k", $"{i}")] });
        }

        var plainRaw = new List<string>();
        foreach (var client in plain)
        {
            var raw = new List<byte[]>();
            for (var i = 0; i < 3; i++) raw.Add(await client.ReceiveRawAsync());
            plainRaw.Add(string.Join(' ', raw.Select(Convert.ToHexString)));
            var decoded = raw.Select(r => Assert.IsType<PublishPacket>(client.Decode(r))).ToList();
            Assert.All(decoded, p => Assert.Equal(topic, p.Topic));
            Assert.All(decoded, p => Assert.Null(p.Properties?.TopicAlias));
            Assert.All(decoded, p => Assert.Null(p.Properties?.SubscriptionIdentifiers));
            Assert.All(decoded, p => Assert.Equal("text/plain", p.Properties?.ContentType));
            Assert.Equal(["0", "1", "2"], decoded.Select(p => p.Properties!.UserProperties![0].Value));
        }
        Assert.Equal(plainRaw[0], plainRaw[1]);

        var aliased = await aliasing.ReceivePublishesAsync(3);
        Assert.Contains(aliased, p => p.Topic.Length == 0 && p.Properties?.TopicAlias is not null);
        Assert.Equal(["m0", "m1", "m2"], aliased.Select(p => Text(p.Payload)));
        var identified = await withId.ReceivePublishesAsync(3);
        Assert.All(identified, p => Assert.Equal([9u], p.Properties?.SubscriptionIdentifiers ?? []));
        Assert.All(identified, p => Assert.Equal(topic, p.Topic));
    }

    [Fact]
    public async Task Qos1PublishToQos0AndQos1Subscribers_EachGetsItsQos_V311Qos0CopiesShareNothingPerRecipient()
    {
        // [MQTT-3.8.4-8] downgrade; the QoS 0 form is built from the message, not the decoded QoS 1 PUBLISH.
        var topic = NewTopic();
        var qos0 = new[] { await ConnectAsync(ProtocolVersion.V311), await ConnectAsync(ProtocolVersion.V311) };
        foreach (var client in qos0) await client.SubscribeGrantedAsync(topic, QoS.AtMostOnce);
        var qos1 = await ConnectAsync(ProtocolVersion.V311);
        await qos1.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        var publisher = await ConnectAsync(ProtocolVersion.V311);
        await publisher.PublishAsync(topic, "q", QoS.AtLeastOnce);

        var topicBytes = Bytes(topic);
        byte[] expected = [0x30, (byte)(2 + topicBytes.Length + 1), 0x00, (byte)topicBytes.Length, .. topicBytes, (byte)'q'];
        foreach (var client in qos0) Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(await client.ReceiveRawAsync()));
        var received = await qos1.ReceivePublishAsync();
        Assert.Equal(QoS.AtLeastOnce, received.QoS);
        Assert.NotEqual(0, received.PacketId);
    }
}
