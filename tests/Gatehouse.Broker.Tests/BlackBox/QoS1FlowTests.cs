using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.BlackBox;

/// <summary>QoS 1 in both directions: PUBACK, packet identifiers, queueing for offline sessions, DUP redelivery on resume.</summary>
public sealed class QoS1FlowTests(ServerFixture fixture, ITestOutputHelper output)
    : BlackBoxTest(fixture, output), IClassFixture<ServerFixture>
{
    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task InboundQos1_IsAcknowledgedWithPubAckForTheSamePacketId(ProtocolVersion version)
    {
        // [MQTT-4.3.2-4] (5.0: [MQTT-4.3.2-4]): PUBACK with the PUBLISH's packet identifier.
        var publisher = await ConnectAsync(version);
        await publisher.SendAsync(new PublishPacket { Topic = NewTopic(), QoS = QoS.AtLeastOnce, PacketId = 0xABCD, Payload = Bytes("x") });
        var raw = await publisher.ReceiveRawAsync();
        if (version == ProtocolVersion.V311)
        {
            Assert.Equal("4002ABCD", Convert.ToHexString(raw));
        }
        else
        {
            var ack = Assert.IsType<PubAckPacket>(publisher.Decode(raw));
            Assert.Equal(0xABCD, ack.PacketId);
            Assert.Contains(ack.ReasonCode, new[] { ReasonCode.Success, ReasonCode.NoMatchingSubscribers });
        }
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task OutboundQos1_HasANonZeroPacketIdAndDupClear(ProtocolVersion version)
    {
        // [MQTT-2.2.1-3], [MQTT-4.3.2-1]: unused non-zero packet id, DUP 0 on first delivery [MQTT-3.3.1-1].
        var topic = NewTopic();
        var subscriber = await ConnectAsync(version);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "1", QoS.AtLeastOnce);
        await publisher.PublishAsync(topic, "2", QoS.AtLeastOnce);

        var first = await subscriber.ReceivePublishAsync();
        var second = await subscriber.ReceivePublishAsync();
        Assert.All([first, second], p =>
        {
            Assert.Equal(QoS.AtLeastOnce, p.QoS);
            Assert.NotEqual(0, p.PacketId);
            Assert.False(p.Dup);
        });
        Assert.NotEqual(first.PacketId, second.PacketId); // both unacknowledged: ids must differ
        await subscriber.AckAsync(first);
        await subscriber.AckAsync(second);
        await subscriber.ExpectNoPacketAsync();
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task UnacknowledgedQos1_IsRedeliveredWithDupOnResume(ProtocolVersion version)
    {
        // [MQTT-4.4.0-1]: on resume with Clean Start 0 the server resends unacknowledged PUBLISHes with DUP 1
        // [MQTT-3.3.1-1] and the original packet identifier.
        var id = NewClientId();
        var topic = NewTopic();
        var subscriber = await ConnectPersistentAsync(version, id);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "unacked", QoS.AtLeastOnce);
        var original = await subscriber.ReceivePublishAsync();
        Assert.False(original.Dup);
        await subscriber.AbortAsync();

        var resumed = await ConnectPersistentAsync(version, id);
        var redelivered = await resumed.ReceivePublishAsync();
        Assert.True(redelivered.Dup);
        Assert.Equal(original.PacketId, redelivered.PacketId);
        Assert.Equal(topic, redelivered.Topic);
        Assert.Equal("unacked", Text(redelivered.Payload));
        Assert.Equal(QoS.AtLeastOnce, redelivered.QoS);

        // Once acknowledged it is gone for good.
        await resumed.AckAsync(redelivered);
        await resumed.PingAsync(); // the PUBACK was processed before the PINGREQ
        await resumed.DisconnectAsync();
        var again = await ConnectPersistentAsync(version, id);
        await again.ExpectNoPacketAsync();
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task UnacknowledgedQos1_AfterOutOfOrderAcks_IsRedeliveredInTheOrderFirstSent(ProtocolVersion version)
    {
        // [MQTT-4.6.0-1]: resends go out in the order of the original PUBLISHes, even when acknowledgements in the
        // middle of the window freed slots that later messages took.
        var id = NewClientId();
        var topic = NewTopic();
        var subscriber = await ConnectPersistentAsync(version, id);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        var publisher = await ConnectAsync(version);
        for (var i = 1; i <= 5; i++) await publisher.PublishAsync(topic, $"m{i}", QoS.AtLeastOnce);
        var first = await subscriber.ReceivePublishesAsync(5);
        await subscriber.AckAsync(first[1]);
        await subscriber.AckAsync(first[3]);
        await subscriber.PingAsync();
        for (var i = 6; i <= 7; i++) await publisher.PublishAsync(topic, $"m{i}", QoS.AtLeastOnce);
        var later = await subscriber.ReceivePublishesAsync(2);
        await subscriber.AbortAsync();

        var resumed = await ConnectPersistentAsync(version, id);
        var redelivered = await resumed.ReceivePublishesAsync(5);
        Assert.Equal(["m1", "m3", "m5", "m6", "m7"], redelivered.Select(p => Text(p.Payload)));
        Assert.All(redelivered, p => Assert.True(p.Dup));
        Assert.Equal(new[] { first[0], first[2], first[4], later[0], later[1] }.Select(p => p.PacketId), redelivered.Select(p => p.PacketId));
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task Qos1MessagesForAnOfflineSession_AreQueuedAndDeliveredInOrderOnResume(ProtocolVersion version)
    {
        var id = NewClientId();
        var topic = NewTopic();
        var subscriber = await ConnectPersistentAsync(version, id);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        await subscriber.DisconnectAsync();

        var publisher = await ConnectAsync(version);
        for (var i = 0; i < 5; i++) await publisher.PublishAsync(topic, $"m{i}", QoS.AtLeastOnce);

        var resumed = await ConnectPersistentAsync(version, id);
        var received = await resumed.ReceivePublishesAsync(5);
        Assert.Equal(["m0", "m1", "m2", "m3", "m4"], received.Select(p => Text(p.Payload)));
        Assert.All(received, p => Assert.False(p.Dup)); // never sent before
        foreach (var p in received) await resumed.AckAsync(p);
        await resumed.ExpectNoPacketAsync();
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task Qos0MessagesForAnOfflineSession_AreNotQueuedByDefault(ProtocolVersion version)
    {
        // BrokerOptions.QueueQoS0WhenOffline is false by default ([MQTT-3.1.2-5] makes it optional).
        var id = NewClientId();
        var topic = NewTopic();
        var subscriber = await ConnectPersistentAsync(version, id);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        await subscriber.DisconnectAsync();

        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "qos0", QoS.AtMostOnce);
        await publisher.PublishAsync(topic, "qos1", QoS.AtLeastOnce);

        var resumed = await ConnectPersistentAsync(version, id);
        var received = await resumed.ReceivePublishAsync();
        Assert.Equal("qos1", Text(received.Payload));
        await resumed.AckAsync(received);
        await resumed.ExpectNoPacketAsync();
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task DuplicateInboundQos1_IsAcknowledgedAgain(ProtocolVersion version)
    {
        // A resent PUBLISH (DUP 1, same id) still gets a PUBACK [MQTT-4.3.2-4]; the connection stays up.
        var publisher = await ConnectAsync(version);
        var publish = new PublishPacket { Topic = NewTopic(), QoS = QoS.AtLeastOnce, PacketId = 77, Payload = Bytes("x") };
        await publisher.SendAsync(publish);
        Assert.Equal(77, (await publisher.ReceiveAsync<PubAckPacket>()).PacketId);
        publish.Dup = true;
        await publisher.SendAsync(publish);
        Assert.Equal(77, (await publisher.ReceiveAsync<PubAckPacket>()).PacketId);
        await publisher.PingAsync();
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task PubAckForAnUnknownPacketId_IsIgnored(ProtocolVersion version)
    {
        var client = await ConnectAsync(version);
        await client.SendAsync(new PubAckPacket { PacketId = 4242 });
        await client.PingAsync();
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task Takeover_RedeliversUnacknowledgedMessagesToTheNewConnection(ProtocolVersion version)
    {
        // The session (with its in-flight messages) continues on the new connection [MQTT-4.4.0-1].
        var id = NewClientId();
        var topic = NewTopic();
        var old = await ConnectPersistentAsync(version, id);
        await old.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "in flight", QoS.AtLeastOnce);
        var original = await old.ReceivePublishAsync();

        var taker = await ConnectPersistentAsync(version, id);
        var redelivered = await taker.ReceivePublishAsync();
        Assert.True(redelivered.Dup);
        Assert.Equal(original.PacketId, redelivered.PacketId);
        Assert.Equal("in flight", Text(redelivered.Payload));
    }
}
