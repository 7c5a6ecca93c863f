using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.BlackBox;

/// <summary>Topic aliases (5.0, 3.3.2.3.4): inbound mapping and errors, outbound assignment when the client allows it.</summary>
public sealed class TopicAliasesTests(ServerFixture fixture, ITestOutputHelper output)
    : BlackBoxTest(fixture, output), IClassFixture<ServerFixture>
{
    private static PublishPacket Aliased(string topic, ushort alias, string payload, QoS qos = QoS.AtMostOnce, ushort packetId = 0)
        => new() { Topic = topic, Payload = Bytes(payload), QoS = qos, PacketId = packetId, Properties = new MqttProperties { TopicAlias = alias } };

    [Fact]
    public async Task InboundAlias_IsResolvedForLaterPublishesWithAnEmptyTopic()
    {
        // [MQTT-3.3.2-12]: a PUBLISH with a topic and an alias sets the mapping; an empty topic uses it.
        var topic = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V500);
        await subscriber.SubscribeGrantedAsync(topic);
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.SendAsync(Aliased(topic, 1, "set"));
        await publisher.SendAsync(Aliased("", 1, "use"));
        await publisher.PublishAsync(Aliased("", 1, "use qos1", QoS.AtLeastOnce, 10));

        var received = await subscriber.ReceivePublishesAsync(3);
        Assert.All(received, p => Assert.Equal(topic, p.Topic));
        Assert.Equal(["set", "use", "use qos1"], received.Select(p => Text(p.Payload)));
        Assert.All(received, p => Assert.Null(p.Properties?.TopicAlias)); // the subscriber allowed no aliases
    }

    [Fact]
    public async Task InboundAlias_CanBeRemappedToAnotherTopic()
    {
        var root = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V500);
        await subscriber.SubscribeGrantedAsync(root + "/#");
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.SendAsync(Aliased(root + "/one", 3, "1"));
        await publisher.SendAsync(Aliased(root + "/two", 3, "2"));
        await publisher.SendAsync(Aliased("", 3, "3"));
        var received = await subscriber.ReceivePublishesAsync(3);
        Assert.Equal([root + "/one", root + "/two", root + "/two"], received.Select(p => p.Topic));
    }

    [Fact]
    public async Task InboundAliasZero_IsDisconnected()
    {
        // [MQTT-3.3.2-8]: Topic Alias 0 is not permitted. 0x94's description only names "greater than the maximum",
        // so 0x82 Protocol Error is accepted too.
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.SendAsync(Aliased(NewTopic(), 0, "x"));
        await publisher.ExpectDisconnectAndCloseAsync(ReasonCode.TopicAliasInvalid, ReasonCode.ProtocolError);
    }

    [Fact]
    public async Task InboundAliasAboveTheServerMaximum_IsDisconnectedWith0x94()
    {
        // [MQTT-3.3.2-9]: greater than the Topic Alias Maximum we announced (1024).
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.SendAsync(Aliased(NewTopic(), 1025, "x"));
        await publisher.ExpectDisconnectAndCloseAsync(ReasonCode.TopicAliasInvalid);
    }

    [Fact]
    public async Task InboundUnknownAliasWithEmptyTopic_IsAProtocolError()
    {
        // 3.3.4: an empty topic with an alias that has no mapping is a Protocol Error (0x82; 0x94 also tells the truth).
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.SendAsync(Aliased("", 7, "x"));
        await publisher.ExpectDisconnectAndCloseAsync(ReasonCode.ProtocolError, ReasonCode.TopicAliasInvalid);
    }

    [Fact]
    public async Task EmptyTopicWithoutAlias_IsAProtocolError()
    {
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.SendAsync(new PublishPacket { Topic = "", Payload = Bytes("x") });
        await publisher.ExpectDisconnectAndCloseAsync(ReasonCode.ProtocolError, ReasonCode.TopicNameInvalid, ReasonCode.MalformedPacket);
    }

    [Fact]
    public async Task InboundAliases_DoNotSurviveTheConnection()
    {
        // [MQTT-3.3.2-7]: alias mappings last for one network connection.
        var id = NewClientId();
        var first = await ConnectPersistentAsync(ProtocolVersion.V500, id);
        await first.SendAsync(Aliased(NewTopic(), 1, "x"));
        await first.PingAsync();
        await first.DisconnectAsync();

        var second = await ConnectPersistentAsync(ProtocolVersion.V500, id);
        await second.SendAsync(Aliased("", 1, "y"));
        await second.ExpectDisconnectAndCloseAsync(ReasonCode.ProtocolError, ReasonCode.TopicAliasInvalid);
    }

    [Fact]
    public async Task OutboundAliases_AreAssignedForRepeatedTopicsWhenTheClientAllowsThem()
    {
        // [MQTT-3.3.2-10]/[MQTT-3.3.2-11]: the server may use aliases up to the client's Topic Alias Maximum.
        var topic = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V500, properties: new MqttProperties { TopicAliasMaximum = 5 });
        await subscriber.SubscribeGrantedAsync(topic);
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        for (var i = 0; i < 4; i++) await publisher.PublishAsync(topic, $"m{i}", QoS.AtLeastOnce);

        var received = await subscriber.ReceivePublishesAsync(4);
        var aliases = new Dictionary<ushort, string>();
        var resolved = new List<string>();
        foreach (var p in received)
        {
            if (p.Properties?.TopicAlias is { } alias)
            {
                Assert.InRange(alias, (ushort)1, (ushort)5);
                if (p.Topic.Length > 0) aliases[alias] = p.Topic;
                Assert.True(aliases.ContainsKey(alias), $"alias {alias} used before it was defined");
                resolved.Add(aliases[alias]);
            }
            else
            {
                Assert.NotEqual("", p.Topic);
                resolved.Add(p.Topic);
            }
        }
        Assert.All(resolved, t => Assert.Equal(topic, t));
        Assert.Contains(received, p => p.Topic.Length == 0 && p.Properties?.TopicAlias is not null);
        Assert.Equal(["m0", "m1", "m2", "m3"], received.Select(p => Text(p.Payload)));
    }

    [Fact]
    public async Task OutboundAliases_NeverExceedTheClientsMaximum()
    {
        var root = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V500, properties: new MqttProperties { TopicAliasMaximum = 2 });
        await subscriber.SubscribeGrantedAsync(root + "/#");
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        for (var round = 0; round < 2; round++)
            for (var t = 0; t < 4; t++) await publisher.PublishAsync($"{root}/{t}", $"{round}", QoS.AtLeastOnce);

        var aliases = new Dictionary<ushort, string>();
        foreach (var p in await subscriber.ReceivePublishesAsync(8))
        {
            if (p.Properties?.TopicAlias is not { } alias)
            {
                Assert.NotEqual("", p.Topic);
                continue;
            }
            Assert.InRange(alias, (ushort)1, (ushort)2);
            if (p.Topic.Length > 0) aliases[alias] = p.Topic;
            Assert.True(aliases.ContainsKey(alias), $"alias {alias} used before it was defined");
        }
    }
}
