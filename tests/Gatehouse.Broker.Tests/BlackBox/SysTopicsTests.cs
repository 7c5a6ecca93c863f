using System.Globalization;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.BlackBox;

/// <summary>A server that publishes $SYS every second.</summary>
public sealed class FastSysServer : ServerFixture
{
    protected override ServerProcessOptions Options => new() { Arguments = ["--Broker:SysIntervalSeconds=1"] };
}

/// <summary>$SYS topics and the '$' rules of topic matching [MQTT-4.7.2-1].</summary>
public sealed class SysTopicsTests(FastSysServer fixture, ITestOutputHelper output)
    : BlackBoxTest(fixture, output), IClassFixture<FastSysServer>
{
    private static readonly string[] RequiredTopics =
    [
        "$SYS/broker/version",
        "$SYS/broker/uptime",
        "$SYS/broker/clients/connected",
        "$SYS/broker/clients/total",
        "$SYS/broker/messages/received",
        "$SYS/broker/messages/sent",
        "$SYS/broker/bytes/received",
        "$SYS/broker/bytes/sent",
        "$SYS/broker/subscriptions/count",
        "$SYS/broker/retained messages/count",
        "$SYS/broker/publish/messages/dropped",
    ];

    /// <summary>Reads $SYS publishes until <paramref name="done"/> holds for one of them.</summary>
    private static async Task<PublishPacket> ReadUntilAsync(MqttTestClient client, Func<PublishPacket, bool> done, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) throw new MqttTestException("the expected $SYS value did not arrive in time");
            var publish = await client.ReceivePublishAsync(left);
            await client.AckAsync(publish);
            if (done(publish)) return publish;
        }
    }

    private static long Number(PublishPacket p) => long.Parse(Text(p.Payload).Split(' ')[0], CultureInfo.InvariantCulture);

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task SubscribingToSysHash_YieldsTheBrokerStatistics(ProtocolVersion version)
    {
        var client = await ConnectAsync(version);
        await client.SubscribeGrantedAsync("$SYS/#");
        var seen = new Dictionary<string, string>();
        await ReadUntilAsync(client, p =>
        {
            seen[p.Topic] = Text(p.Payload);
            return RequiredTopics.All(seen.ContainsKey);
        }, TimeSpan.FromSeconds(5));
        Assert.Contains("gatehouse", seen["$SYS/broker/version"], StringComparison.OrdinalIgnoreCase);
        Assert.True(Number(new PublishPacket { Payload = Bytes(seen["$SYS/broker/clients/connected"]) }) >= 1);
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task LeadingWildcards_DoNotMatchSysTopics(ProtocolVersion version)
    {
        // [MQTT-4.7.2-1]: '#' and '+' at the first level do not match topics starting with '$'.
        var client = await ConnectAsync(version);
        await client.SubscribeGrantedAsync("#");
        await client.SubscribeGrantedAsync("+/broker/#");
        await client.SubscribeGrantedAsync("+/broker/uptime");
        // $SYS is republished every second: two and a half intervals without any of it reaching us.
        await client.ExpectNoPacketAsync(TimeSpan.FromSeconds(2.5));
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task DollarTopicsOfClients_AreMatchedOnlyByFiltersStartingWithDollar(ProtocolVersion version)
    {
        var topic = "$gh-" + NewTopic("app");
        var everything = await ConnectAsync(version);
        await everything.SubscribeGrantedAsync("#");
        var dollar = await ConnectAsync(version);
        await dollar.SubscribeGrantedAsync(topic.Split('/')[0] + "/#");
        var publisher = await ConnectAsync(version);
        await publisher.PublishAsync(topic, "dollar", QoS.AtLeastOnce);

        Assert.Equal(topic, (await dollar.ReceivePublishAsync()).Topic);
        await everything.ExpectNoPacketAsync();
    }

    [Fact]
    public async Task ClientsConnected_CountsNewConnections()
    {
        var watcher = await ConnectAsync(ProtocolVersion.V500);
        await watcher.SubscribeGrantedAsync("$SYS/broker/clients/connected");
        // Clients of earlier tests may still be going away: take the baseline once two publications agree.
        var previous = Number(await watcher.ReceivePublishAsync());
        var before = Number(await ReadUntilAsync(watcher, p =>
        {
            var same = Number(p) == previous;
            previous = Number(p);
            return same;
        }, TimeSpan.FromSeconds(5)));
        for (var i = 0; i < 3; i++) await ConnectAsync(ProtocolVersion.V311);
        await ReadUntilAsync(watcher, p => Number(p) >= before + 3, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task MessagesReceived_CountsPublishes()
    {
        var watcher = await ConnectAsync(ProtocolVersion.V500);
        await watcher.SubscribeGrantedAsync("$SYS/broker/messages/received");
        var before = Number(await watcher.ReceivePublishAsync());
        var publisher = await ConnectAsync(ProtocolVersion.V311);
        for (var i = 0; i < 10; i++) await publisher.PublishAsync(NewTopic(), "count me", QoS.AtLeastOnce);
        await ReadUntilAsync(watcher, p => Number(p) >= before + 10, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Uptime_Advances()
    {
        var watcher = await ConnectAsync(ProtocolVersion.V500);
        await watcher.SubscribeGrantedAsync("$SYS/broker/uptime");
        var first = Number(await watcher.ReceivePublishAsync());
        await ReadUntilAsync(watcher, p => Number(p) > first, TimeSpan.FromSeconds(5));
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task ClientsCannotPublishToSys(ProtocolVersion version)
    {
        var watcher = await ConnectAsync(version);
        await watcher.SubscribeGrantedAsync("$SYS/broker/version");
        await watcher.ReceivePublishAsync(); // the retained value

        var publisher = await ConnectAsync(version);
        await publisher.SendAsync(new PublishPacket { Topic = "$SYS/broker/version", Payload = Bytes("forged"), QoS = QoS.AtLeastOnce, PacketId = 1, Retain = true });
        if (version == ProtocolVersion.V500)
        {
            var reply = await publisher.ReceiveAsync();
            var code = reply switch
            {
                PubAckPacket ack => ack.ReasonCode,
                DisconnectPacket d => d.ReasonCode,
                _ => throw new MqttTestException($"unexpected {PacketFormatter.Describe(reply)}"),
            };
            Assert.True((byte)code >= 0x80, $"publishing to $SYS was accepted with 0x{(byte)code:X2}");
        }

        // Nothing forged reaches subscribers (the real value is republished every second meanwhile).
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(1.5);
        while (DateTime.UtcNow < until)
        {
            PublishPacket next;
            try
            {
                next = await watcher.ReceivePublishAsync(TimeSpan.FromMilliseconds(300));
            }
            catch (MqttTestException)
            {
                continue; // quiet moment
            }
            Assert.NotEqual("forged", Text(next.Payload));
        }
    }
}
