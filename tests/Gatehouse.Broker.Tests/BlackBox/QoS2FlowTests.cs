using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.BlackBox;

/// <summary>QoS 2 in both directions: PUBREC/PUBREL/PUBCOMP, exactly-once on duplicates, resume in every state.</summary>
public sealed class QoS2FlowTests(ServerFixture fixture, ITestOutputHelper output)
    : BlackBoxTest(fixture, output), IClassFixture<ServerFixture>
{
    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task InboundQos2_CompletesPubRecPubRelPubCompWithExactBytes(ProtocolVersion version)
    {
        // [MQTT-4.3.3-8], [MQTT-4.3.3-11] (5.0 numbering): PUBREC, then PUBCOMP for the PUBREL, same packet id.
        var publisher = await ConnectAsync(version);
        await publisher.SendAsync(new PublishPacket { Topic = NewTopic(), QoS = QoS.ExactlyOnce, PacketId = 0x0102, Payload = Bytes("x") });
        var rec = await publisher.ReceiveRawAsync();
        if (version == ProtocolVersion.V311) Assert.Equal("50020102", Convert.ToHexString(rec));
        else Assert.Equal(0x0102, Assert.IsType<PubRecPacket>(publisher.Decode(rec)).PacketId);

        // PUBREL must have flags 0010 [MQTT-3.6.1-1]: 62 02 01 02.
        await publisher.SendAsync([0x62, 0x02, 0x01, 0x02]);
        var comp = await publisher.ReceiveRawAsync();
        if (version == ProtocolVersion.V311) Assert.Equal("70020102", Convert.ToHexString(comp));
        else Assert.Equal(ReasonCode.Success, Assert.IsType<PubCompPacket>(publisher.Decode(comp)).ReasonCode);
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task DuplicateInboundQos2BeforePubRel_IsDeliveredOnlyOnce(ProtocolVersion version)
    {
        // [MQTT-4.3.3-9] (3.1.1) / [MQTT-4.3.3-10] (5.0): until PUBREL, a PUBLISH with the same id is not a new
        // message. After PUBCOMP the id may be reused for a new one.
        var topic = NewTopic();
        var subscriber = await ConnectAsync(version);
        await subscriber.SubscribeGrantedAsync(topic);
        var publisher = await ConnectAsync(version);

        var publish = new PublishPacket { Topic = topic, QoS = QoS.ExactlyOnce, PacketId = 5, Payload = Bytes("first") };
        await publisher.SendAsync(publish);
        Assert.Equal(5, (await publisher.ReceiveAsync<PubRecPacket>()).PacketId);
        publish.Dup = true;
        await publisher.SendAsync(publish);
        Assert.Equal(5, (await publisher.ReceiveAsync<PubRecPacket>()).PacketId);
        await publisher.SendAsync(new PubRelPacket { PacketId = 5 });
        Assert.Equal(5, (await publisher.ReceiveAsync<PubCompPacket>()).PacketId);

        Assert.Equal("first", Text((await subscriber.ReceivePublishAsync()).Payload));
        await subscriber.ExpectNoPacketAsync();

        // Same id, new message after the flow completed.
        await publisher.PublishAsync(new PublishPacket { Topic = topic, QoS = QoS.ExactlyOnce, PacketId = 5, Payload = Bytes("second") });
        Assert.Equal("second", Text((await subscriber.ReceivePublishAsync()).Payload));
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task OutboundQos2_ServerSendsPubRelAfterPubRec(ProtocolVersion version)
    {
        // [MQTT-4.3.3-3..5]: PUBLISH QoS 2 → our PUBREC → server PUBREL (flags 0010) → our PUBCOMP.
        var topic = NewTopic();
        var subscriber = await ConnectAsync(version);
        await subscriber.SubscribeGrantedAsync(topic, QoS.ExactlyOnce);
        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "exactly once", QoS.ExactlyOnce);

        var publish = await subscriber.ReceivePublishAsync();
        Assert.Equal(QoS.ExactlyOnce, publish.QoS);
        Assert.NotEqual(0, publish.PacketId);
        Assert.False(publish.Dup);
        await subscriber.SendAsync(new PubRecPacket { PacketId = publish.PacketId });
        var rel = await subscriber.ReceiveRawAsync();
        Assert.Equal(0x62, rel[0]);
        Assert.Equal(publish.PacketId, Assert.IsType<PubRelPacket>(subscriber.Decode(rel)).PacketId);
        await subscriber.SendAsync(new PubCompPacket { PacketId = publish.PacketId });
        await subscriber.ExpectNoPacketAsync();
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task OutboundQos2_WithoutPubRec_IsRedeliveredWithDupOnResume(ProtocolVersion version)
    {
        // [MQTT-4.4.0-1]: unacknowledged PUBLISH resent with DUP 1 and the same packet id.
        var id = NewClientId();
        var topic = NewTopic();
        var subscriber = await ConnectPersistentAsync(version, id);
        await subscriber.SubscribeGrantedAsync(topic, QoS.ExactlyOnce);
        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "q2", QoS.ExactlyOnce);
        var original = await subscriber.ReceivePublishAsync();
        await subscriber.AbortAsync();

        var resumed = await ConnectPersistentAsync(version, id);
        var redelivered = await resumed.ReceivePublishAsync();
        Assert.True(redelivered.Dup);
        Assert.Equal(original.PacketId, redelivered.PacketId);
        Assert.Equal(QoS.ExactlyOnce, redelivered.QoS);
        await resumed.AckAsync(redelivered);
        await resumed.ExpectNoPacketAsync();
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task OutboundQos2_AfterPubRec_ResumeResendsPubRelNotPublish(ProtocolVersion version)
    {
        // [MQTT-4.4.0-1]: the server resends PUBREL (not the PUBLISH) for a message already PUBREC'd.
        var id = NewClientId();
        var topic = NewTopic();
        var subscriber = await ConnectPersistentAsync(version, id);
        await subscriber.SubscribeGrantedAsync(topic, QoS.ExactlyOnce);
        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "q2", QoS.ExactlyOnce);
        var original = await subscriber.ReceivePublishAsync();
        await subscriber.SendAsync(new PubRecPacket { PacketId = original.PacketId });
        Assert.Equal(original.PacketId, (await subscriber.ReceiveAsync<PubRelPacket>()).PacketId);
        await subscriber.AbortAsync();

        var resumed = await ConnectPersistentAsync(version, id);
        var rel = await resumed.ReceiveAsync<PubRelPacket>();
        Assert.Equal(original.PacketId, rel.PacketId);
        await resumed.SendAsync(new PubCompPacket { PacketId = rel.PacketId });
        await resumed.ExpectNoPacketAsync();
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task InboundQos2_PubRelAfterReconnect_CompletesWithoutSecondDelivery(ProtocolVersion version)
    {
        // The publisher's session remembers the received packet id across a reconnect [MQTT-4.3.3-9/10].
        var id = NewClientId();
        var topic = NewTopic();
        var subscriber = await ConnectAsync(version);
        await subscriber.SubscribeGrantedAsync(topic);
        var publisher = await ConnectPersistentAsync(version, id);
        await publisher.SendAsync(new PublishPacket { Topic = topic, QoS = QoS.ExactlyOnce, PacketId = 11, Payload = Bytes("once") });
        Assert.Equal(11, (await publisher.ReceiveAsync<PubRecPacket>()).PacketId);
        await publisher.AbortAsync();

        var resumed = await ConnectPersistentAsync(version, id);
        // Resend the PUBLISH with DUP (the client does not know whether PUBREC got through), then PUBREL.
        await resumed.SendAsync(new PublishPacket { Topic = topic, QoS = QoS.ExactlyOnce, PacketId = 11, Dup = true, Payload = Bytes("once") });
        Assert.Equal(11, (await resumed.ReceiveAsync<PubRecPacket>()).PacketId);
        await resumed.SendAsync(new PubRelPacket { PacketId = 11 });
        Assert.Equal(11, (await resumed.ReceiveAsync<PubCompPacket>()).PacketId);

        Assert.Equal("once", Text((await subscriber.ReceivePublishAsync()).Payload));
        await subscriber.ExpectNoPacketAsync();
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task PubRelForAnUnknownPacketId_GetsPubComp(ProtocolVersion version)
    {
        // 3.1.1 [MQTT-4.3.3-2 receiver]: PUBCOMP; 5.0: PUBCOMP with 0x92 Packet Identifier not found.
        var client = await ConnectAsync(version);
        await client.SendAsync(new PubRelPacket { PacketId = 999 });
        var comp = await client.ReceiveAsync<PubCompPacket>();
        Assert.Equal(999, comp.PacketId);
        if (version == ProtocolVersion.V500) Assert.Equal(ReasonCode.PacketIdentifierNotFound, comp.ReasonCode);
        await client.PingAsync();
    }

    [Fact]
    public async Task V5_PubRecWithFailureCode_EndsTheOutboundFlow()
    {
        // [MQTT-4.3.3-?]: a PUBREC with a reason code >= 0x80 ends the flow; no PUBREL follows, no redelivery.
        var topic = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V500);
        await subscriber.SubscribeGrantedAsync(topic, QoS.ExactlyOnce);
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, "refused", QoS.ExactlyOnce);
        var publish = await subscriber.ReceivePublishAsync();
        await subscriber.SendAsync(new PubRecPacket { PacketId = publish.PacketId, ReasonCode = ReasonCode.UnspecifiedError });
        await subscriber.ExpectNoPacketAsync();
        await subscriber.PingAsync();
    }
}
