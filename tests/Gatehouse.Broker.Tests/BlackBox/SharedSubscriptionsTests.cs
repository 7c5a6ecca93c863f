using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.BlackBox;

/// <summary>Shared subscriptions <c>$share/{group}/{filter}</c> (5.0, section 4.8.2).</summary>
public sealed class SharedSubscriptionsTests(ServerFixture fixture, ITestOutputHelper output)
    : BlackBoxTest(fixture, output), IClassFixture<ServerFixture>
{
    /// <summary>Collects publishes from several clients until <paramref name="count"/> arrived in total, acknowledging each.</summary>
    private static async Task<Dictionary<MqttTestClient, List<string>>> CollectAsync(IReadOnlyList<MqttTestClient> members, int count)
    {
        var result = members.ToDictionary(m => m, _ => new List<string>());
        var total = 0;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (total < count)
        {
            var waits = members.Select(m => m.WaitToReceiveAsync(deadline.Token)).ToList();
            try
            {
                await Task.WhenAny(waits).Unwrap();
            }
            catch (OperationCanceledException)
            {
                throw new MqttTestException($"only {total} of {count} messages arrived at the group members");
            }
            foreach (var member in members)
            {
                while (member.TryReceive(out var packet))
                {
                    var publish = packet as PublishPacket ?? throw new MqttTestException($"{member.Name}: unexpected {PacketFormatter.Describe(packet)}");
                    await member.AckAsync(publish);
                    result[member].Add(Text(publish.Payload));
                    total++;
                }
                if (member.IsClosed) throw new MqttTestException($"{member.Name}: the server closed the connection");
            }
        }
        return result;
    }

    [Fact]
    public async Task SharedSubscription_DistributesEachMessageToExactlyOneMember()
    {
        // [MQTT-4.8.2-?]: each message goes to one member of the group; Gatehouse balances across members.
        const int count = 20;
        var topic = NewTopic();
        var group = "g" + Guid.NewGuid().ToString("N")[..6];
        var a = await ConnectAsync(ProtocolVersion.V500);
        var b = await ConnectAsync(ProtocolVersion.V500);
        await a.SubscribeGrantedAsync($"$share/{group}/{topic}", QoS.AtLeastOnce);
        await b.SubscribeGrantedAsync($"$share/{group}/{topic}", QoS.AtLeastOnce);

        var publisher = await ConnectAsync(ProtocolVersion.V500);
        for (var i = 0; i < count; i++) await publisher.PublishAsync(topic, $"m{i}", QoS.AtLeastOnce);

        var received = await CollectAsync([a, b], count);
        await a.ExpectNoPacketAsync();
        await b.ExpectNoPacketAsync();
        var all = received[a].Concat(received[b]).ToList();
        Assert.Equal(count, all.Count);
        Assert.Equal(count, all.Distinct().Count());
        Assert.InRange(received[a].Count, 5, 15); // balanced, not all to one member
        Assert.InRange(received[b].Count, 5, 15);
    }

    [Fact]
    public async Task SharedAndNonSharedSubscriptions_EachGetTheirCopy()
    {
        var topic = NewTopic();
        var member = await ConnectAsync(ProtocolVersion.V500);
        await member.SubscribeGrantedAsync($"$share/one/{topic}", QoS.AtLeastOnce);
        var otherGroup = await ConnectAsync(ProtocolVersion.V500);
        await otherGroup.SubscribeGrantedAsync($"$share/two/{topic}", QoS.AtLeastOnce);
        var plain = await ConnectAsync(ProtocolVersion.V500);
        await plain.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);

        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, "fan-out", QoS.AtLeastOnce);
        foreach (var client in new[] { member, otherGroup, plain })
        {
            Assert.Equal("fan-out", Text((await client.ReceivePublishAsync()).Payload));
        }
    }

    [Fact]
    public async Task SharedSubscription_WithWildcardFilter_Matches()
    {
        var root = NewTopic();
        var member = await ConnectAsync(ProtocolVersion.V500);
        await member.SubscribeGrantedAsync($"$share/wild/{root}/+/x", QoS.AtLeastOnce);
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(root + "/a/x", "matched", QoS.AtLeastOnce);
        var received = await member.ReceivePublishAsync();
        Assert.Equal(root + "/a/x", received.Topic);
    }

    [Fact]
    public async Task UnackedMessageOfAMemberThatLeaves_IsRedeliveredToAnotherMember()
    {
        // Issue 2: QoS 1/2 messages unacknowledged by a member that goes away are redelivered to another member.
        var topic = NewTopic();
        var group = "rd" + Guid.NewGuid().ToString("N")[..6];
        var a = await ConnectAsync(ProtocolVersion.V500);
        var b = await ConnectAsync(ProtocolVersion.V500);
        await a.SubscribeGrantedAsync($"$share/{group}/{topic}", QoS.AtLeastOnce);
        await b.SubscribeGrantedAsync($"$share/{group}/{topic}", QoS.AtLeastOnce);

        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, "orphan", QoS.AtLeastOnce);

        var toA = a.ReceivePublishAsync();
        var toB = b.ReceivePublishAsync();
        var first = await Task.WhenAny(toA, toB);
        var (leaver, stayer, other) = first == toA ? (a, b, toB) : (b, a, toA);
        Assert.Equal("orphan", Text((await first).Payload));
        await leaver.AbortAsync(); // leaves without acknowledging; session expiry 0 → its session ends

        var redelivered = await other;
        Assert.Equal("orphan", Text(redelivered.Payload));
        Assert.Equal(topic, redelivered.Topic);
        await stayer.AckAsync(redelivered);
        await stayer.ExpectNoPacketAsync();
    }

    [Fact]
    public async Task ALonePersistentMemberThatLeaves_KeepsItsUnacknowledgedAndQueuedMessages()
    {
        // With no other member to take them, what the member had not acknowledged (one sent, the rest waiting behind its
        // Receive Maximum of 1) stays in its session: every message was acknowledged to the publisher [MQTT-4.8.2-3].
        var topic = NewTopic();
        var clientId = NewClientId("lone");
        var window = new MqttProperties { SessionExpiryInterval = 300, ReceiveMaximum = 1 };
        var member = await ConnectPersistentAsync(ProtocolVersion.V500, clientId, window);
        await member.SubscribeGrantedAsync($"$share/lone/{topic}", QoS.AtLeastOnce);

        var publisher = await ConnectAsync(ProtocolVersion.V500);
        for (var i = 1; i <= 3; i++) await publisher.PublishAsync(topic, $"m{i}", QoS.AtLeastOnce);
        Assert.Equal("m1", Text((await member.ReceivePublishAsync()).Payload));
        await member.AbortAsync(); // m1 unacknowledged, m2 and m3 never sent

        var resumed = await ConnectPersistentAsync(ProtocolVersion.V500, clientId, window);
        var received = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var publish = await resumed.ReceivePublishAsync(TimeSpan.FromSeconds(10));
            received.Add(Text(publish.Payload));
            await resumed.AckAsync(publish);
        }
        Assert.Equal(["m1", "m2", "m3"], received.Order());
        await resumed.ExpectNoPacketAsync();
    }

    [Fact]
    public async Task SentQoS2MessageOfAMemberThatLeaves_IsNotSentToAnotherMember()
    {
        // [MQTT-4.8.2-5] once a QoS 2 message was sent to a member, it is never sent to another one, even when that
        // member's session ends; only the member itself may complete it [MQTT-4.8.2-4].
        var topic = NewTopic();
        var group = "q2" + Guid.NewGuid().ToString("N")[..6];
        var a = await ConnectAsync(ProtocolVersion.V500);
        var b = await ConnectAsync(ProtocolVersion.V500);
        await a.SubscribeGrantedAsync($"$share/{group}/{topic}", QoS.ExactlyOnce);
        await b.SubscribeGrantedAsync($"$share/{group}/{topic}", QoS.ExactlyOnce);

        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, "exactly-once", QoS.ExactlyOnce);

        var toA = a.ReceivePublishAsync();
        var toB = b.ReceivePublishAsync();
        var first = await Task.WhenAny(toA, toB);
        var (leaver, stayer) = first == toA ? (a, b) : (b, a);
        var sent = await first;
        Assert.Equal(QoS.ExactlyOnce, sent.QoS);
        await leaver.AbortAsync(); // no PUBREC; session expiry 0 → its session ends

        await stayer.ExpectNoPacketAsync(TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task SharedSubscription_DoesNotReceiveRetainedMessagesOnSubscribe()
    {
        // [MQTT-3.8.4-?] / 4.8.2: retained messages are not sent when a shared subscription is established.
        var topic = NewTopic();
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, "retained", QoS.AtLeastOnce, retain: true);
        var member = await ConnectAsync(ProtocolVersion.V500);
        await member.SubscribeGrantedAsync($"$share/ret/{topic}", QoS.AtLeastOnce);
        await member.ExpectNoPacketAsync();
    }

    [Theory]
    [InlineData("$share/onlygroup")]
    [InlineData("$share/g+/{0}")]
    [InlineData("$share//{0}")]
    [InlineData("$share/g#/{0}")]
    public async Task MalformedSharedFilter_IsAProtocolError(string form)
    {
        // [MQTT-4.8.2-1]: ShareName non-empty without wildcards, followed by '/' and a filter [MQTT-4.8.2-2]. A filter that
        // breaks it is not well formed: DISCONNECT 0x82, like any malformed filter.
        var member = await ConnectAsync(ProtocolVersion.V500);
        await member.SendAsync(new SubscribePacket
        {
            PacketId = 1,
            Subscriptions = [new TopicSubscription { TopicFilter = string.Format(form, NewTopic()), MaximumQoS = QoS.AtMostOnce }],
        });
        await member.ExpectDisconnectAndCloseAsync(ReasonCode.ProtocolError);
    }

    [Fact]
    public async Task WellFormedSharedFilter_IsGranted()
    {
        var member = await ConnectAsync(ProtocolVersion.V500);
        var subAck = await member.SubscribeAsync($"$share/ok/{NewTopic()}", QoS.AtMostOnce);
        Assert.Equal([ReasonCode.GrantedQoS0], subAck.ReasonCodes);
    }

    [Fact]
    public async Task NoLocalOnASharedSubscription_IsAProtocolError()
    {
        // [MQTT-3.8.3-4]: No Local 1 on a shared subscription is a Protocol Error.
        var member = await ConnectAsync(ProtocolVersion.V500);
        await member.SendAsync(new SubscribePacket
        {
            PacketId = 1,
            Subscriptions = [new TopicSubscription { TopicFilter = $"$share/nl/{NewTopic()}", MaximumQoS = QoS.AtMostOnce, NoLocal = true }],
        });
        await member.ExpectDisconnectAndCloseAsync(ReasonCode.ProtocolError);
    }

    [Fact]
    public async Task UnsubscribingASharedSubscription_StopsDeliveryToThatMember()
    {
        var topic = NewTopic();
        var a = await ConnectAsync(ProtocolVersion.V500);
        var b = await ConnectAsync(ProtocolVersion.V500);
        await a.SubscribeGrantedAsync($"$share/un/{topic}", QoS.AtLeastOnce);
        await b.SubscribeGrantedAsync($"$share/un/{topic}", QoS.AtLeastOnce);
        var unsubAck = await a.UnsubscribeAsync($"$share/un/{topic}");
        Assert.Equal([ReasonCode.Success], unsubAck.ReasonCodes);

        var publisher = await ConnectAsync(ProtocolVersion.V500);
        for (var i = 0; i < 4; i++) await publisher.PublishAsync(topic, $"m{i}", QoS.AtLeastOnce);
        var received = await b.ReceivePublishesAsync(4);
        Assert.Equal(["m0", "m1", "m2", "m3"], received.Select(p => Text(p.Payload)));
        await a.ExpectNoPacketAsync();
    }

    [Fact]
    public async Task V311_SharedSubscription_AlsoWorks()
    {
        // Not in the 3.1.1 spec; Gatehouse accepts $share filters from 3.1.1 clients too (as Mosquitto and EMQX do).
        var topic = NewTopic();
        var a = await ConnectAsync(ProtocolVersion.V311);
        var b = await ConnectAsync(ProtocolVersion.V311);
        await a.SubscribeGrantedAsync($"$share/v3/{topic}", QoS.AtLeastOnce);
        await b.SubscribeGrantedAsync($"$share/v3/{topic}", QoS.AtLeastOnce);
        var publisher = await ConnectAsync(ProtocolVersion.V311);
        for (var i = 0; i < 6; i++) await publisher.PublishAsync(topic, $"m{i}", QoS.AtLeastOnce);
        var received = await CollectAsync([a, b], 6);
        Assert.Equal(6, received[a].Count + received[b].Count);
        await a.ExpectNoPacketAsync();
        await b.ExpectNoPacketAsync();
    }
}
