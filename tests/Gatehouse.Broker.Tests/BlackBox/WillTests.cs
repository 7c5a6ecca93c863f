using System.Diagnostics;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.BlackBox;

/// <summary>Will messages: when they are published and when not, with their QoS, retain flag and properties.</summary>
public sealed class WillTests(ServerFixture fixture, ITestOutputHelper output)
    : BlackBoxTest(fixture, output), IClassFixture<ServerFixture>
{
    private static WillMessage Will(string topic, string payload = "gone", QoS qos = QoS.AtLeastOnce, bool retain = false, MqttProperties? properties = null)
        => new() { Topic = topic, Payload = Bytes(payload), QoS = qos, Retain = retain, Properties = properties };

    private async Task<MqttTestClient> WatchAsync(ProtocolVersion version, string topic, QoS qos = QoS.ExactlyOnce)
    {
        var watcher = await ConnectAsync(version);
        await watcher.SubscribeGrantedAsync(topic, qos);
        return watcher;
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task AbnormalClose_PublishesTheWill(ProtocolVersion version)
    {
        // [MQTT-3.1.2-8]: closed without DISCONNECT → the will is published.
        var topic = NewTopic("will");
        var watcher = await WatchAsync(version, topic);
        var client = await ConnectAsync(version, will: Will(topic, "closed", QoS.AtLeastOnce));
        await client.CloseAsync();

        var will = await watcher.ReceivePublishAsync();
        Assert.Equal(topic, will.Topic);
        Assert.Equal("closed", Text(will.Payload));
        Assert.Equal(QoS.AtLeastOnce, will.QoS);
        Assert.False(will.Retain);
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task ConnectionReset_PublishesTheWill(ProtocolVersion version)
    {
        var topic = NewTopic("will");
        var watcher = await WatchAsync(version, topic);
        var client = await ConnectAsync(version, will: Will(topic, "reset"));
        await client.AbortAsync();
        Assert.Equal("reset", Text((await watcher.ReceivePublishAsync()).Payload));
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task NormalDisconnect_DiscardsTheWill(ProtocolVersion version)
    {
        // [MQTT-3.1.2-10]: DISCONNECT (0x00) removes the will without publishing it.
        var topic = NewTopic("will");
        var watcher = await WatchAsync(version, topic);
        var client = await ConnectAsync(version, will: Will(topic));
        await client.DisconnectAsync();
        await watcher.ExpectNoPacketAsync(TimeSpan.FromMilliseconds(700));
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task KeepAliveTimeout_PublishesTheWill(ProtocolVersion version)
    {
        // [MQTT-3.1.2-8] failure to communicate within the keep-alive period.
        var topic = NewTopic("will");
        var watcher = await WatchAsync(version, topic);
        var client = await ConnectAsync(version, keepAlive: 1, will: Will(topic, "silent"));
        var will = await watcher.ReceivePublishAsync(TimeSpan.FromSeconds(8));
        Assert.Equal("silent", Text(will.Payload));
        Assert.True(await client.WaitForCloseAsync());
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task ProtocolViolation_PublishesTheWill(ProtocolVersion version)
    {
        // [MQTT-3.1.2-8]: the server closing the connection for a protocol error publishes the will.
        var topic = NewTopic("will");
        var watcher = await WatchAsync(version, topic);
        var id = NewClientId();
        var client = await ConnectAsync(version, id, will: Will(topic, "violated"));
        await client.SendAsync(new ConnectPacket { ProtocolVersion = version, ClientId = id, CleanStart = true });
        Assert.True(await client.WaitForCloseAsync());
        Assert.Equal("violated", Text((await watcher.ReceivePublishAsync()).Payload));
    }

    [Fact]
    public async Task V5_DisconnectWithWillMessage_PublishesTheWill()
    {
        // [MQTT-3.14.4-3] / Reason Code 0x04 Disconnect with Will Message.
        var topic = NewTopic("will");
        var watcher = await WatchAsync(ProtocolVersion.V500, topic);
        var client = await ConnectAsync(ProtocolVersion.V500, will: Will(topic, "asked for"));
        await client.DisconnectAsync(ReasonCode.DisconnectWithWillMessage);
        Assert.Equal("asked for", Text((await watcher.ReceivePublishAsync()).Payload));
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task WillWithRetain_IsStoredAsRetainedMessage(ProtocolVersion version)
    {
        // [MQTT-3.1.2-17] (3.1.1) / [MQTT-3.1.2-15] (5.0): Will Retain 1 → published as a retained message.
        var topic = NewTopic("will");
        var watcher = await WatchAsync(version, topic);
        var client = await ConnectAsync(version, will: Will(topic, "retained will", QoS.AtLeastOnce, retain: true));
        await client.AbortAsync();
        await watcher.ReceivePublishAsync();

        var late = await ConnectAsync(version);
        await late.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        var retained = await late.ReceivePublishAsync();
        Assert.Equal("retained will", Text(retained.Payload));
        Assert.True(retained.Retain);
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task WillQos2_IsDeliveredAtQos2(ProtocolVersion version)
    {
        var topic = NewTopic("will");
        var watcher = await WatchAsync(version, topic, QoS.ExactlyOnce);
        var client = await ConnectAsync(version, will: Will(topic, "q2", QoS.ExactlyOnce));
        await client.AbortAsync();
        var will = await watcher.ReceivePublishAsync();
        Assert.Equal(QoS.ExactlyOnce, will.QoS);
        await watcher.AckAsync(will);
    }

    [Fact]
    public async Task V5_WillProperties_AreForwarded()
    {
        // [MQTT-3.1.3-?] Will Properties: Payload Format Indicator, Content Type, Response Topic, Correlation Data, User Properties.
        var topic = NewTopic("will");
        var watcher = await WatchAsync(ProtocolVersion.V500, topic);
        var client = await ConnectAsync(ProtocolVersion.V500, will: Will(topic, "props", properties: new MqttProperties
        {
            PayloadFormatIndicator = 1,
            ContentType = "text/plain",
            ResponseTopic = topic + "/reply",
            CorrelationData = new byte[] { 9, 8, 7 },
            UserProperties = [new("z", "1"), new("a", "2")],
            MessageExpiryInterval = 100,
        }));
        await client.AbortAsync();

        var p = (await watcher.ReceivePublishAsync()).Properties;
        Assert.NotNull(p);
        Assert.Equal((byte)1, p.PayloadFormatIndicator);
        Assert.Equal("text/plain", p.ContentType);
        Assert.Equal(topic + "/reply", p.ResponseTopic);
        Assert.Equal([9, 8, 7], p.CorrelationData?.ToArray());
        Assert.Equal([new UserProperty("z", "1"), new UserProperty("a", "2")], p.UserProperties ?? []);
        Assert.InRange(p.MessageExpiryInterval ?? 0, 95u, 100u);
    }
}

/// <summary>Will Delay Interval (5.0): delayed publication, cancellation on resume, publication when the session ends first.</summary>
public sealed class WillDelayTests(ServerFixture fixture, ITestOutputHelper output)
    : BlackBoxTest(fixture, output), IClassFixture<ServerFixture>
{
    private static WillMessage DelayedWill(string topic, uint delay, string payload = "delayed")
        => new() { Topic = topic, Payload = Bytes(payload), QoS = QoS.AtLeastOnce, Properties = new MqttProperties { WillDelayInterval = delay } };

    private async Task<MqttTestClient> WatchAsync(string topic)
    {
        var watcher = await ConnectAsync(ProtocolVersion.V500);
        await watcher.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        return watcher;
    }

    [Fact]
    public async Task WillDelay_PublishesTheWillAfterTheDelay()
    {
        // [MQTT-3.1.3-9]: published when the Will Delay Interval has passed.
        var topic = NewTopic("will");
        var watcher = await WatchAsync(topic);
        var client = await ConnectAsync(ProtocolVersion.V500, cleanStart: true,
            properties: new MqttProperties { SessionExpiryInterval = 60 }, will: DelayedWill(topic, 2));
        // The clock starts before the close, which the delay cannot precede: a pause of the loaded test process only
        // lengthens what is measured, so the lower bound is what says the will was not early (a quiet window after the
        // close would be ended by the will itself if this process paused for 0.7 s before it).
        var clock = Stopwatch.StartNew();
        await client.AbortAsync();

        var will = await watcher.ReceivePublishAsync(TimeSpan.FromSeconds(8));
        Assert.Equal("delayed", Text(will.Payload));
        Assert.InRange(clock.Elapsed.TotalSeconds, 1.8, 8);
    }

    [Fact]
    public async Task WillDelay_IsPublishedWhenTheDelayEnds_NotAtALaterSweep()
    {
        // [MQTT-3.1.3-9] when the delay has passed, and clients check it closely: a client that reconnects just after its
        // delay expects its will to be out. Five clients go away a fifth of the 250 ms housekeeping tick apart: if only
        // the tick published wills, they would be late by five values spread over the tick, at least three of them by
        // 100 ms or more. The five wills of a round arrive within 200 ms, so one stall of the loaded test machine can
        // make a whole round look late; three rounds, a second or more apart, and the median of all fifteen is checked:
        // one stalled round cannot move it, while the tick would put nine or more of the fifteen past 100 ms.
        const int Clients = 5, Rounds = 3;
        var late = new List<double>();
        for (var round = 0; round < Rounds; round++)
        {
            var topic = NewTopic("will");
            var watcher = await WatchAsync(topic + "/+");
            var clients = new MqttTestClient[Clients];
            for (var i = 0; i < Clients; i++)
            {
                clients[i] = await ConnectAsync(ProtocolVersion.V500, cleanStart: true,
                    properties: new MqttProperties { SessionExpiryInterval = 60 }, will: DelayedWill($"{topic}/{i}", 1, i.ToString()));
            }
            var closing = new long[Clients];
            var closed = new long[Clients];
            for (var i = 0; i < Clients; i++)
            {
                if (i > 0) await Task.Delay(50);
                closing[i] = Stopwatch.GetTimestamp();
                await clients[i].AbortAsync();
                closed[i] = Stopwatch.GetTimestamp();
            }

            for (var n = 0; n < Clients; n++)
            {
                var will = await watcher.ReceivePublishAsync(TimeSpan.FromSeconds(10));
                var i = int.Parse(Text(will.Payload));
                // Not before the delay: the socket closed after `closing` was read.
                var sinceClosing = Stopwatch.GetElapsedTime(closing[i]);
                Assert.True(sinceClosing >= TimeSpan.FromMilliseconds(990), $"will {i} came {sinceClosing.TotalMilliseconds:F0} ms after its client closed");
                late.Add((Stopwatch.GetElapsedTime(closed[i]) - TimeSpan.FromSeconds(1)).TotalMilliseconds);
            }
        }
        var sorted = late.Order().ToList();
        Assert.True(sorted[sorted.Count / 2] < 90,
            "wills published late (ms after the delay, by round): " + string.Join(" | ", late.Chunk(Clients).Select(r => string.Join(", ", r.Select(ms => ms.ToString("F0"))))));
    }

    [Fact]
    public async Task WillDelay_ResumingTheSessionInTime_CancelsTheWill()
    {
        // [MQTT-3.1.3-9]: a new connection to the session before the delay passed → the will is not sent.
        var id = NewClientId();
        var topic = NewTopic("will");
        var watcher = await WatchAsync(topic);
        var client = await ConnectAsync(ProtocolVersion.V500, id, cleanStart: false,
            properties: new MqttProperties { SessionExpiryInterval = 60 }, will: DelayedWill(topic, 2));
        await client.AbortAsync();

        var (resumed, connAck) = await ConnectRawAsync(ProtocolVersion.V500, id, cleanStart: false, new MqttProperties { SessionExpiryInterval = 60 });
        Assert.True(connAck.SessionPresent);
        await watcher.ExpectNoPacketAsync(TimeSpan.FromSeconds(3.5));
        await resumed.PingAsync();
    }

    [Fact]
    public async Task WillDelay_SessionEndingFirst_PublishesTheWillAtOnce()
    {
        // [MQTT-3.1.3-9]: "or the Session ends, whichever happens first": Session Expiry 1 s, Will Delay 60 s.
        var topic = NewTopic("will");
        var watcher = await WatchAsync(topic);
        var client = await ConnectAsync(ProtocolVersion.V500, cleanStart: true,
            properties: new MqttProperties { SessionExpiryInterval = 1 }, will: DelayedWill(topic, 60, "session ended"));
        await client.AbortAsync();
        var will = await watcher.ReceivePublishAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("session ended", Text(will.Payload));
    }

    [Fact]
    public async Task WillDelay_WithSessionExpiry0_PublishesTheWillOnClose()
    {
        var topic = NewTopic("will");
        var watcher = await WatchAsync(topic);
        var client = await ConnectAsync(ProtocolVersion.V500, will: DelayedWill(topic, 60, "no session"));
        await client.AbortAsync();
        Assert.Equal("no session", Text((await watcher.ReceivePublishAsync(TimeSpan.FromSeconds(10))).Payload));
    }

    [Fact]
    public async Task WillDelay_NewConnectionWithCleanStart_EndsTheSessionAndPublishesTheWill()
    {
        // Clean Start 1 discards the old session, which ends it: its delayed will is published then.
        var id = NewClientId();
        var topic = NewTopic("will");
        var watcher = await WatchAsync(topic);
        var client = await ConnectAsync(ProtocolVersion.V500, id, cleanStart: true,
            properties: new MqttProperties { SessionExpiryInterval = 60 }, will: DelayedWill(topic, 60, "replaced"));
        await client.AbortAsync();

        var (_, connAck) = await ConnectRawAsync(ProtocolVersion.V500, id, cleanStart: true);
        Assert.False(connAck.SessionPresent);
        Assert.Equal("replaced", Text((await watcher.ReceivePublishAsync(TimeSpan.FromSeconds(10))).Payload));
    }
}
