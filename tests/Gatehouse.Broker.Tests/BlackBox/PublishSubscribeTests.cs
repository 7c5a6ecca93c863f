using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.BlackBox;

/// <summary>SUBSCRIBE / UNSUBSCRIBE / PUBLISH routing: wildcards, No Local, subscription identifiers, overlaps, ordering, QoS downgrade, forwarded properties.</summary>
public sealed class PublishSubscribeTests(ServerFixture fixture, ITestOutputHelper output)
    : BlackBoxTest(fixture, output), IClassFixture<ServerFixture>
{
    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task Qos0Publish_IsDeliveredToASubscriber(ProtocolVersion version)
    {
        var topic = NewTopic();
        var subscriber = await ConnectAsync(version);
        await subscriber.SubscribeGrantedAsync(topic);
        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "hello");

        var received = await subscriber.ReceivePublishAsync();
        Assert.Equal(topic, received.Topic);
        Assert.Equal("hello", Text(received.Payload));
        Assert.Equal(QoS.AtMostOnce, received.QoS);
        Assert.False(received.Retain);
        Assert.False(received.Dup);
    }

    [Fact]
    public async Task Qos0Delivery_HasExactBytes()
    {
        // 30 len 00 len topic payload: no packet id at QoS 0 [MQTT-2.2.1-2], no properties in 3.1.1.
        var topic = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V311);
        await subscriber.SubscribeGrantedAsync(topic);
        var publisher = await ConnectAsync(ProtocolVersion.V311);
        await publisher.PublishAsync(topic, "xyz");
        var raw = await subscriber.ReceiveRawAsync();
        var topicBytes = Bytes(topic);
        byte[] expected = [0x30, (byte)(2 + topicBytes.Length + 3), 0x00, (byte)topicBytes.Length, .. topicBytes, (byte)'x', (byte)'y', (byte)'z'];
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(raw));
    }

    public static TheoryData<ProtocolVersion, string, string[], string[]> WildcardCases()
    {
        var data = new TheoryData<ProtocolVersion, string, string[], string[]>();
        foreach (var v in new[] { ProtocolVersion.V311, ProtocolVersion.V500 })
        {
            // [MQTT-4.7.1-3] '+' matches exactly one level, including an empty one.
            data.Add(v, "/a/+", ["/a/b", "/a/"], ["/a/b/c", "/a", "/ab"]);
            // [MQTT-4.7.1-2] '#' matches the parent level too, and any number of children.
            data.Add(v, "/a/#", ["/a", "/a/b", "/a/b/c"], ["/ab", "/b/a"]);
            data.Add(v, "/+/b/#", ["/x/b", "/y/b/c/d"], ["/x/c", "/x/y/b"]);
            // Exact filters are case-sensitive and trailing separators matter [MQTT-4.7.3-4].
            data.Add(v, "/a/b", ["/a/b"], ["/a/B", "/a/b/", "/A/b"]);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(WildcardCases))]
    public async Task WildcardFilters_MatchExactlyTheRightTopics(ProtocolVersion version, string filter, string[] matching, string[] notMatching)
    {
        var root = NewTopic("wc");
        var marker = root + "/zz-marker";
        var subscriber = await ConnectAsync(version);
        await subscriber.SubscribeGrantedAsync(root + filter, QoS.AtLeastOnce);
        await subscriber.SubscribeGrantedAsync(marker, QoS.AtLeastOnce);
        var publisher = await ConnectAsync(version);
        foreach (var topic in notMatching.Concat(matching)) await publisher.PublishAsync(root + topic, topic, QoS.AtLeastOnce);
        await publisher.PublishAsync(marker, "marker", QoS.AtLeastOnce);

        var received = new List<string>();
        while (true)
        {
            var publish = await subscriber.ReceivePublishAsync();
            await subscriber.AckAsync(publish);
            if (publish.Topic == marker) break;
            received.Add(publish.Topic[root.Length..]);
        }
        Assert.Equal(matching.Order(StringComparer.Ordinal), received.Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task Unsubscribe_StopsDelivery(ProtocolVersion version)
    {
        // [MQTT-3.10.4-1], [MQTT-3.10.4-4]: UNSUBACK with the same packet id; the subscription is deleted.
        var topic = NewTopic();
        var subscriber = await ConnectAsync(version);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        var unsubAck = await subscriber.UnsubscribeAsync(topic, topic + "/never-subscribed");
        if (version == ProtocolVersion.V500)
            Assert.Equal([ReasonCode.Success, ReasonCode.NoSubscriptionExisted], unsubAck.ReasonCodes); // [MQTT-3.11.3-1]

        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "after unsubscribe", QoS.AtLeastOnce);
        await subscriber.ExpectNoPacketAsync();
    }

    [Fact]
    public async Task V311_UnsubAck_HasExactBytes()
    {
        var subscriber = await ConnectAsync(ProtocolVersion.V311);
        await subscriber.SendAsync(new UnsubscribePacket { PacketId = 0x1234, TopicFilters = [NewTopic()] });
        Assert.Equal("B0021234", Convert.ToHexString(await subscriber.ReceiveRawAsync()));
    }

    [Fact]
    public async Task V5_NoLocal_SuppressesTheClientsOwnMessages()
    {
        // [MQTT-3.8.3-3]: No Local 1 → not forwarded to the connection that published it.
        var topic = NewTopic();
        var client = await ConnectAsync(ProtocolVersion.V500);
        await client.SubscribeGrantedAsync(topic, QoS.AtLeastOnce, noLocal: true);
        var other = await ConnectAsync(ProtocolVersion.V500);
        await other.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);

        await client.PublishAsync(topic, "own", QoS.AtLeastOnce);
        Assert.Equal("own", Text((await other.ReceivePublishAsync()).Payload));
        await client.ExpectNoPacketAsync();

        await other.PublishAsync(topic, "foreign", QoS.AtMostOnce);
        Assert.Equal("foreign", Text((await client.ReceivePublishAsync()).Payload));
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task WithoutNoLocal_TheClientReceivesItsOwnMessages(ProtocolVersion version)
    {
        var topic = NewTopic();
        var client = await ConnectAsync(version);
        await client.SubscribeGrantedAsync(topic);
        await client.PublishAsync(topic, "echo");
        Assert.Equal("echo", Text((await client.ReceivePublishAsync()).Payload));
    }

    [Fact]
    public async Task V5_SubscriptionIdentifier_IsCarriedOnMatchingMessages()
    {
        // [MQTT-3.3.4-3]: the Subscription Identifier of the matching subscription is sent with the PUBLISH.
        var topic = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V500);
        await subscriber.SubscribeGrantedAsync(topic + "/#", properties: new MqttProperties { SubscriptionIdentifiers = [268_435_455] });
        await subscriber.SubscribeGrantedAsync(topic + "/plain");
        var publisher = await ConnectAsync(ProtocolVersion.V500);

        await publisher.PublishAsync(topic + "/x", "with id");
        var withId = await subscriber.ReceivePublishAsync();
        Assert.Equal([268_435_455u], withId.Properties?.SubscriptionIdentifiers ?? []);
    }

    [Fact]
    public async Task V5_SubscriptionWithoutIdentifier_DeliversNoIdentifier()
    {
        var topic = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V500);
        await subscriber.SubscribeGrantedAsync(topic);
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, "no id", properties: new MqttProperties { UserProperties = [new("k", "v")] });
        var received = await subscriber.ReceivePublishAsync();
        Assert.Null(received.Properties?.SubscriptionIdentifiers);
    }

    [Fact]
    public async Task V5_OverlappingSubscriptions_DeliverOneCopyAtTheHighestQosWithAllIdentifiers()
    {
        // [MQTT-3.3.4-2] allows one copy; Gatehouse promises one, at the maximum granted QoS, with every identifier [MQTT-3.3.4-4].
        var root = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V500);
        await subscriber.SubscribeGrantedAsync(root + "/+/x", QoS.AtLeastOnce, new MqttProperties { SubscriptionIdentifiers = [1] });
        await subscriber.SubscribeGrantedAsync(root + "/#", QoS.ExactlyOnce, new MqttProperties { SubscriptionIdentifiers = [2] });
        await subscriber.SubscribeGrantedAsync(root + "/a/x", QoS.AtMostOnce);
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(root + "/a/x", "once", QoS.ExactlyOnce);

        var received = await subscriber.ReceivePublishAsync();
        Assert.Equal(QoS.ExactlyOnce, received.QoS);
        Assert.Equal([1u, 2u], (received.Properties?.SubscriptionIdentifiers ?? []).Order());
        await subscriber.AckAsync(received);
        await subscriber.ExpectNoPacketAsync();
    }

    [Fact]
    public async Task V5_OverlappingFiltersOfOneSubscribe_ListTheirSharedIdentifierOnce()
    {
        // Two filters in one SUBSCRIBE share its identifier: the one copy [MQTT-3.3.4-2] names it once [MQTT-3.3.4-4].
        var root = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V500);
        var subAck = await subscriber.SubscribeAsync(
            [new TopicSubscription { TopicFilter = root + "/a/#", MaximumQoS = QoS.ExactlyOnce },
             new TopicSubscription { TopicFilter = root + "/a/+", MaximumQoS = QoS.AtLeastOnce }],
            new MqttProperties { SubscriptionIdentifiers = [2333] });
        Assert.Equal([ReasonCode.GrantedQoS2, ReasonCode.GrantedQoS1], subAck.ReasonCodes);
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(root + "/a/x", "once", QoS.AtLeastOnce);

        var received = await subscriber.ReceivePublishAsync();
        Assert.Equal([2333u], received.Properties?.SubscriptionIdentifiers ?? []);
        await subscriber.AckAsync(received);
        await subscriber.ExpectNoPacketAsync();
    }

    [Fact]
    public async Task V311_OverlappingSubscriptions_DeliverOneCopyAtTheHighestQos()
    {
        var root = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V311);
        await subscriber.SubscribeGrantedAsync(root + "/#", QoS.AtMostOnce);
        await subscriber.SubscribeGrantedAsync(root + "/+", QoS.AtLeastOnce);
        var publisher = await ConnectAsync(ProtocolVersion.V311);
        await publisher.PublishAsync(root + "/a", "once", QoS.ExactlyOnce);

        var received = await subscriber.ReceivePublishAsync();
        Assert.Equal(QoS.AtLeastOnce, received.QoS);
        await subscriber.AckAsync(received);
        await subscriber.ExpectNoPacketAsync();
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task Resubscribe_ReplacesTheExistingSubscription(ProtocolVersion version)
    {
        // [MQTT-3.8.4-3]: a SUBSCRIBE for an existing filter replaces it (new QoS, and 5.0 identifier); one copy only.
        var topic = NewTopic();
        var subscriber = await ConnectAsync(version);
        var v5 = version == ProtocolVersion.V500;
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtMostOnce, v5 ? new MqttProperties { SubscriptionIdentifiers = [1] } : null);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce, v5 ? new MqttProperties { SubscriptionIdentifiers = [2] } : null);

        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "replaced", QoS.AtLeastOnce);
        var received = await subscriber.ReceivePublishAsync();
        Assert.Equal(QoS.AtLeastOnce, received.QoS);
        if (v5) Assert.Equal([2u], received.Properties?.SubscriptionIdentifiers ?? []);
        await subscriber.AckAsync(received);
        await subscriber.ExpectNoPacketAsync();
    }

    [Fact]
    public async Task V5_SubAck_HasOneReasonCodePerFilter_InOrder()
    {
        // [MQTT-3.8.4-6], [MQTT-3.9.3-1]: one reason code per filter, in the order of the SUBSCRIBE.
        var root = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V500);
        var subAck = await subscriber.SubscribeAsync(
        [
            new TopicSubscription { TopicFilter = root + "/q0", MaximumQoS = QoS.AtMostOnce },
            new TopicSubscription { TopicFilter = root + "/q2", MaximumQoS = QoS.ExactlyOnce },
            new TopicSubscription { TopicFilter = root + "/q1", MaximumQoS = QoS.AtLeastOnce },
        ]);
        Assert.Equal([ReasonCode.GrantedQoS0, ReasonCode.GrantedQoS2, ReasonCode.GrantedQoS1], subAck.ReasonCodes);
    }

    public static TheoryData<ProtocolVersion, string> MalformedFilters()
    {
        var data = new TheoryData<ProtocolVersion, string>();
        foreach (var version in new[] { ProtocolVersion.V311, ProtocolVersion.V500 })
            foreach (var filter in new[] { "/#/x", "/a+", "/x#", "/+b/c" })
                data.Add(version, filter);
        return data;
    }

    [Theory]
    [MemberData(nameof(MalformedFilters))]
    public async Task MalformedFilter_IsAProtocolViolation_AndVoidsTheWholeSubscribe(ProtocolVersion version, string badSuffix)
    {
        // [MQTT-4.7.1-1], [MQTT-4.7.1-2]: wildcards only as whole levels, '#' last. Breaking them is a protocol violation:
        // the connection closes (5.0: DISCONNECT 0x82) [MQTT-4.8.0-1] [MQTT-4.13.1-1]; SUBACK's 0x8F means "correctly
        // formed but not allowed". The well-formed filters sent with it are not applied either.
        var root = NewTopic();
        var id = NewClientId();
        var expiry = new MqttProperties { SessionExpiryInterval = 60 };
        // A persistent session (3.1.1: clean session 0; 5.0: an expiry), so what the SUBSCRIBE left behind can be looked at.
        var (subscriber, _) = await ConnectRawAsync(version, id, cleanStart: false, version == ProtocolVersion.V500 ? expiry : null);
        await subscriber.SendAsync(new SubscribePacket
        {
            PacketId = 7,
            Subscriptions =
            [
                new TopicSubscription { TopicFilter = root + "/ok", MaximumQoS = QoS.AtLeastOnce },
                new TopicSubscription { TopicFilter = root + badSuffix, MaximumQoS = QoS.AtLeastOnce },
            ],
        });
        await subscriber.ExpectDisconnectAndCloseAsync(ReasonCode.ProtocolError);

        var (resumed, connAck) = await ConnectRawAsync(version, id, cleanStart: false, version == ProtocolVersion.V500 ? expiry : null);
        Assert.True(connAck.SessionPresent);
        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(root + "/ok", "not subscribed", QoS.AtLeastOnce);
        await resumed.ExpectNoPacketAsync();
    }

    [Theory]
    [InlineData(ProtocolVersion.V311)]
    [InlineData(ProtocolVersion.V500)]
    public async Task MalformedFilterInUnsubscribe_IsAProtocolViolation(ProtocolVersion version)
    {
        var subscriber = await ConnectAsync(version);
        await subscriber.SendAsync(new UnsubscribePacket { PacketId = 3, TopicFilters = [NewTopic() + "/#/x"] });
        await subscriber.ExpectDisconnectAndCloseAsync(ReasonCode.ProtocolError);
    }

    public static TheoryData<ProtocolVersion, QoS, QoS> QosPairs()
    {
        var data = new TheoryData<ProtocolVersion, QoS, QoS>();
        foreach (var v in new[] { ProtocolVersion.V311, ProtocolVersion.V500 })
            foreach (var sub in new[] { QoS.AtMostOnce, QoS.AtLeastOnce, QoS.ExactlyOnce })
                foreach (var pub in new[] { QoS.AtMostOnce, QoS.AtLeastOnce, QoS.ExactlyOnce })
                    data.Add(v, sub, pub);
        return data;
    }

    [Theory]
    [MemberData(nameof(QosPairs))]
    public async Task DeliveredQos_IsTheMinimumOfPublishedAndGranted(ProtocolVersion version, QoS subscribed, QoS published)
    {
        // [MQTT-3.8.4-8] (5.0: [MQTT-3.8.4-8]/[MQTT-3.3.5-?]): QoS downgraded to the subscription's maximum.
        var topic = NewTopic();
        var subscriber = await ConnectAsync(version);
        await subscriber.SubscribeGrantedAsync(topic, subscribed);
        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "q", published);

        var received = await subscriber.ReceivePublishAsync();
        var expected = (QoS)Math.Min((int)subscribed, (int)published);
        Assert.Equal(expected, received.QoS);
        if (expected == QoS.AtMostOnce) Assert.Equal(0, received.PacketId);
        else Assert.NotEqual(0, received.PacketId); // [MQTT-2.2.1-3]
        await subscriber.AckAsync(received);
        await subscriber.ExpectNoPacketAsync();
    }

    [Theory]
    [InlineData(ProtocolVersion.V311, QoS.AtMostOnce)]
    [InlineData(ProtocolVersion.V311, QoS.AtLeastOnce)]
    [InlineData(ProtocolVersion.V311, QoS.ExactlyOnce)]
    [InlineData(ProtocolVersion.V500, QoS.AtMostOnce)]
    [InlineData(ProtocolVersion.V500, QoS.AtLeastOnce)]
    [InlineData(ProtocolVersion.V500, QoS.ExactlyOnce)]
    public async Task MessagesFromOnePublisher_ArriveInOrder(ProtocolVersion version, QoS qos)
    {
        // [MQTT-4.6.0-5] (3.1.1) / [MQTT-4.6.0-6] (5.0): every topic is an Ordered Topic. Publishes are pipelined.
        const int count = 40;
        var topic = NewTopic();
        var subscriber = await ConnectAsync(version);
        await subscriber.SubscribeGrantedAsync(topic, qos);
        var publisher = await ConnectAsync(version);
        for (var i = 0; i < count; i++)
        {
            await publisher.SendAsync(new PublishPacket
            {
                Topic = topic, Payload = Bytes(i.ToString(System.Globalization.CultureInfo.InvariantCulture)), QoS = qos,
                PacketId = qos == QoS.AtMostOnce ? (ushort)0 : (ushort)(i + 1),
            });
        }

        var payloads = new List<string>();
        var collect = Task.Run(async () =>
        {
            while (payloads.Count < count)
            {
                switch (await subscriber.ReceiveAsync())
                {
                    case PublishPacket publish:
                        payloads.Add(Text(publish.Payload));
                        if (publish.QoS == QoS.AtLeastOnce) await subscriber.SendAsync(new PubAckPacket { PacketId = publish.PacketId });
                        if (publish.QoS == QoS.ExactlyOnce) await subscriber.SendAsync(new PubRecPacket { PacketId = publish.PacketId });
                        break;
                    case PubRelPacket rel:
                        await subscriber.SendAsync(new PubCompPacket { PacketId = rel.PacketId });
                        break;
                    case var other:
                        throw new MqttTestException($"subscriber: unexpected {PacketFormatter.Describe(other)}");
                }
            }
        });
        // Publisher side: acknowledgements in order too [MQTT-4.6.0-2..4].
        var acked = 0;
        var completed = 0;
        while (qos != QoS.AtMostOnce && (acked < count || (qos == QoS.ExactlyOnce && completed < count)))
        {
            switch (await publisher.ReceiveAsync())
            {
                case PubAckPacket ack when qos == QoS.AtLeastOnce:
                    Assert.Equal((ushort)(++acked), ack.PacketId);
                    break;
                case PubRecPacket rec when qos == QoS.ExactlyOnce:
                    Assert.Equal((ushort)(++acked), rec.PacketId);
                    await publisher.SendAsync(new PubRelPacket { PacketId = rec.PacketId });
                    break;
                case PubCompPacket comp when qos == QoS.ExactlyOnce:
                    Assert.Equal((ushort)(++completed), comp.PacketId);
                    break;
                case var other:
                    throw new MqttTestException($"publisher: unexpected {PacketFormatter.Describe(other)}");
            }
        }
        await collect;
        Assert.Equal(Enumerable.Range(0, count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), payloads);
    }

    [Fact]
    public async Task V5_PublishProperties_AreForwardedUnaltered()
    {
        // [MQTT-3.3.2-15] Response Topic, [MQTT-3.3.2-16] Correlation Data, [MQTT-3.3.2-17]/[MQTT-3.3.2-18] User
        // Properties in order, [MQTT-3.3.2-20] Content Type, [MQTT-3.3.2-4] Payload Format Indicator.
        var topic = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V500);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        var sent = new MqttProperties
        {
            PayloadFormatIndicator = 1,
            ContentType = "text/plain; charset=utf-8",
            ResponseTopic = topic + "/reply",
            CorrelationData = new byte[] { 0, 1, 2, 0xFF },
            UserProperties = [new("b", "2"), new("a", "1"), new("b", "3"), new("ünï", "cødé")],
        };
        await publisher.PublishAsync(topic, "héllo", QoS.AtLeastOnce, properties: sent);

        var received = await subscriber.ReceivePublishAsync();
        var p = received.Properties;
        Assert.NotNull(p);
        Assert.Equal("héllo", Text(received.Payload));
        Assert.Equal((byte)1, p.PayloadFormatIndicator);
        Assert.Equal(sent.ContentType, p.ContentType);
        Assert.Equal(sent.ResponseTopic, p.ResponseTopic);
        Assert.Equal(sent.CorrelationData!.Value.ToArray(), p.CorrelationData?.ToArray());
        Assert.Equal(sent.UserProperties, p.UserProperties);
        Assert.Null(p.TopicAlias);
    }

    [Fact]
    public async Task V5PublishWithProperties_ReachesAV311SubscriberAsAPlainMessage()
    {
        var topic = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V311);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, "cross", QoS.AtLeastOnce, properties: new MqttProperties
        {
            ContentType = "text/plain", UserProperties = [new("k", "v")], MessageExpiryInterval = 100,
        });
        var received = await subscriber.ReceivePublishAsync();
        Assert.Equal("cross", Text(received.Payload));
        Assert.Equal(QoS.AtLeastOnce, received.QoS);
    }

    [Fact]
    public async Task V5_InvalidUtf8WithPayloadFormatIndicator_IsRejectedWith0x99()
    {
        // [MQTT-3.3.2-4]: PUBACK (or DISCONNECT) with 0x99 Payload format invalid; not forwarded.
        var topic = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V500);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.SendAsync(new PublishPacket
        {
            Topic = topic, QoS = QoS.AtLeastOnce, PacketId = 9, Payload = new byte[] { 0x61, 0xFF, 0xFE, 0xC0, 0x80 },
            Properties = new MqttProperties { PayloadFormatIndicator = 1 },
        });
        var reply = await publisher.ReceiveAsync();
        var code = reply switch
        {
            PubAckPacket ack => ack.ReasonCode,
            DisconnectPacket d => d.ReasonCode,
            _ => throw new MqttTestException($"unexpected {PacketFormatter.Describe(reply)}"),
        };
        Assert.Equal(ReasonCode.PayloadFormatInvalid, code);
        await subscriber.ExpectNoPacketAsync();
    }

    [Fact]
    public async Task V5_PublishWithoutSubscribers_IsAcknowledgedWithSuccessOrNoMatchingSubscribers()
    {
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        var ack = await publisher.PublishAsync(NewTopic("nobody"), "x", QoS.AtLeastOnce);
        Assert.Contains(ack!.ReasonCode, new[] { ReasonCode.Success, ReasonCode.NoMatchingSubscribers });
    }

    [Fact]
    public async Task V5_MessageExpiry_ForwardedIntervalIsTheRemainingTime()
    {
        // [MQTT-3.3.2-6]: the forwarded Message Expiry Interval is the received value minus the time spent waiting.
        var topic = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V500);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, "expiring", QoS.AtLeastOnce, properties: new MqttProperties { MessageExpiryInterval = 60 });
        var received = await subscriber.ReceivePublishAsync();
        Assert.InRange(received.Properties?.MessageExpiryInterval ?? 0, 58u, 60u);
    }

    [Fact]
    public async Task V5_MessageExpiry_ExpiredQueuedMessagesAreNotDelivered()
    {
        // [MQTT-3.3.2-5]: a message whose expiry interval passed while queued is not delivered; the others carry
        // the remaining interval [MQTT-3.3.2-6].
        var id = NewClientId();
        var topic = NewTopic();
        var subscriber = await ConnectPersistentAsync(ProtocolVersion.V500, id);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        await subscriber.DisconnectAsync();

        var publisher = await ConnectAsync(ProtocolVersion.V500);
        await publisher.PublishAsync(topic, "short", QoS.AtLeastOnce, properties: new MqttProperties { MessageExpiryInterval = 1 });
        await publisher.PublishAsync(topic, "long", QoS.AtLeastOnce, properties: new MqttProperties { MessageExpiryInterval = 100 });
        await Task.Delay(TimeSpan.FromSeconds(2.2)); // the expiry itself is what we wait for

        var resumed = await ConnectPersistentAsync(ProtocolVersion.V500, id);
        var received = await resumed.ReceivePublishAsync();
        Assert.Equal("long", Text(received.Payload));
        Assert.InRange(received.Properties?.MessageExpiryInterval ?? 0, 90u, 98u);
        await resumed.AckAsync(received);
        await resumed.ExpectNoPacketAsync();
    }
}
