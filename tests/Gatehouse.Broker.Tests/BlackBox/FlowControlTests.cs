using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.BlackBox;

/// <summary>A server whose own Receive Maximum is 3.</summary>
public sealed class SmallReceiveMaximumServer : ServerFixture
{
    protected override ServerProcessOptions Options => new() { Arguments = ["--Broker:ReceiveMaximum=3"] };
}

/// <summary>Flow control (5.0, section 4.9): the client's Receive Maximum is honoured, the server's is enforced.</summary>
public sealed class FlowControlTests(SmallReceiveMaximumServer fixture, ITestOutputHelper output)
    : BlackBoxTest(fixture, output), IClassFixture<SmallReceiveMaximumServer>
{
    private static MqttProperties ReceiveMaximum(ushort value) => new() { ReceiveMaximum = value };

    [Fact]
    public async Task ClientReceiveMaximum_LimitsUnacknowledgedQos1Deliveries()
    {
        // [MQTT-3.3.4-9]: the server sends no more QoS 1/2 PUBLISHes than the client's Receive Maximum before acks.
        var topic = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V500, properties: ReceiveMaximum(2));
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        for (var i = 0; i < 5; i++) await publisher.PublishAsync(topic, $"m{i}", QoS.AtLeastOnce);

        var first = await subscriber.ReceivePublishesAsync(2);
        Assert.Equal(["m0", "m1"], first.Select(p => Text(p.Payload)));
        await subscriber.ExpectNoPacketAsync();

        await subscriber.AckAsync(first[0]);
        var third = await subscriber.ReceivePublishAsync();
        Assert.Equal("m2", Text(third.Payload));
        await subscriber.ExpectNoPacketAsync();

        await subscriber.AckAsync(first[1]);
        await subscriber.AckAsync(third);
        var rest = await subscriber.ReceivePublishesAsync(2);
        Assert.Equal(["m3", "m4"], rest.Select(p => Text(p.Payload)));
    }

    [Fact]
    public async Task ClientReceiveMaximum_Qos2SlotIsFreedOnlyByPubComp()
    {
        // [MQTT-4.9.0-?]: the send quota is restored when PUBCOMP (not PUBREC) arrives.
        var topic = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V500, properties: ReceiveMaximum(1));
        await subscriber.SubscribeGrantedAsync(topic, QoS.ExactlyOnce);
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, "a", QoS.ExactlyOnce);
        await publisher.PublishAsync(topic, "b", QoS.ExactlyOnce);

        var a = await subscriber.ReceivePublishAsync();
        Assert.Equal("a", Text(a.Payload));
        await subscriber.SendAsync(new PubRecPacket { PacketId = a.PacketId });
        Assert.Equal(a.PacketId, (await subscriber.ReceiveAsync<PubRelPacket>()).PacketId);
        await subscriber.ExpectNoPacketAsync();
        await subscriber.SendAsync(new PubCompPacket { PacketId = a.PacketId });
        Assert.Equal("b", Text((await subscriber.ReceivePublishAsync()).Payload));
    }

    [Fact]
    public async Task ClientReceiveMaximum_DoesNotHoldBackQos0()
    {
        // [MQTT-4.9.0-3]: QoS 0 PUBLISHes are not limited by the send quota.
        var topic = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V500, properties: ReceiveMaximum(1));
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, "q1", QoS.AtLeastOnce);
        var q1 = await subscriber.ReceivePublishAsync(); // not acknowledged: the quota is used up
        await publisher.PublishAsync(topic, "q0", QoS.AtMostOnce);
        var q0 = await subscriber.ReceivePublishAsync();
        Assert.Equal("q0", Text(q0.Payload));
        Assert.Equal(QoS.AtMostOnce, q0.QoS);
        await subscriber.AckAsync(q1);
    }

    [Fact]
    public async Task ConnAck_AnnouncesTheServerReceiveMaximum()
    {
        var (_, connAck) = await ConnectRawAsync(ProtocolVersion.V500, NewClientId(), cleanStart: true);
        Assert.Equal((ushort)3, connAck.Properties?.ReceiveMaximum);
    }

    [Fact]
    public async Task ExceedingTheServerReceiveMaximum_IsDisconnectedWith0x93()
    {
        // [MQTT-3.3.4-7]: more unacknowledged QoS 2 PUBLISHes than our Receive Maximum (3) → DISCONNECT 0x93.
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        var topic = NewTopic();
        for (ushort id = 1; id <= 3; id++)
        {
            await publisher.SendAsync(new PublishPacket { Topic = topic, QoS = QoS.ExactlyOnce, PacketId = id, Payload = Bytes("x") });
            Assert.Equal(id, (await publisher.ReceiveAsync<PubRecPacket>()).PacketId);
        }
        await publisher.SendAsync(new PublishPacket { Topic = topic, QoS = QoS.ExactlyOnce, PacketId = 4, Payload = Bytes("x") });
        await publisher.ExpectDisconnectAndCloseAsync(ReasonCode.ReceiveMaximumExceeded);
    }

    [Fact]
    public async Task WithinTheServerReceiveMaximum_CompletingFlowsFreesSlots()
    {
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        var topic = NewTopic();
        for (ushort id = 1; id <= 10; id++)
        {
            await publisher.SendAsync(new PublishPacket { Topic = topic, QoS = QoS.ExactlyOnce, PacketId = id, Payload = Bytes("x") });
            Assert.Equal(id, (await publisher.ReceiveAsync<PubRecPacket>()).PacketId);
            await publisher.SendAsync(new PubRelPacket { PacketId = id });
            Assert.Equal(id, (await publisher.ReceiveAsync<PubCompPacket>()).PacketId);
        }
        await publisher.PingAsync();
    }
}
