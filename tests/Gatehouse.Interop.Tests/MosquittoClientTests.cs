using System.Text.Json;
using Gatehouse.Interop.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Gatehouse.Interop.Tests;

/// <summary>
/// mosquitto_pub / mosquitto_sub (Debian's mosquitto-clients) against the broker, MQTT 3.1.1 and 5.0.
/// Not covered: WebSocket, because mosquitto_pub/sub have no WebSocket transport (only the mosquitto broker does).
/// </summary>
public sealed class MosquittoClientTests(InteropServer server, ITestOutputHelper output)
    : InteropTest(server, output), IClassFixture<InteropServer>
{
    public static TheoryData<string, int> VersionsAndQoS()
    {
        var data = new TheoryData<string, int>();
        foreach (var version in new[] { "mqttv311", "mqttv5" })
        {
            for (var qos = 0; qos <= 2; qos++)
                data.Add(version, qos);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(VersionsAndQoS))]
    public async Task PublishSubscribe_DeliversEveryMessageInOrderAtTheQoS(string version, int qos)
    {
        var topic = $"{Prefix}/pubsub";
        var sub = await SubscribeAsync("sub", version, ["-t", topic, "-q", $"{qos}", "-C", "5"]);

        var pub = Pub("pub", version, ["-t", topic, "-q", $"{qos}", "-l"], stdin: "m1\nm2\nm3\nm4\nm5\n");
        await pub.ExpectSuccessAsync(Deadline);
        await sub.ExpectSuccessAsync(Deadline); // -C 5: exits after exactly five messages

        var messages = Messages(sub);
        Assert.Equal(["m1", "m2", "m3", "m4", "m5"], messages.Select(m => m.GetProperty("payload").GetString()));
        Assert.All(messages, m => Assert.Equal(qos, m.GetProperty("qos").GetInt32()));
        Assert.All(messages, m => Assert.Equal(topic, m.GetProperty("topic").GetString()));
        var acks = qos switch { 1 => "received PUBACK", 2 => "received PUBCOMP", _ => null };
        if (acks is not null)
            Assert.Equal(5, pub.StdoutLines.Count(l => l.Contains(acks, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task PublishSubscribe_OverTls_WithTheServersSelfSignedCertificate()
    {
        var topic = $"{Prefix}/tls";
        string[] tls = ["-p", $"{Server.TlsPort}", "--cafile", Server.CaFile];
        var sub = await SubscribeAsync("sub", "mqttv5", [.. tls, "-t", topic, "-q", "2", "-C", "1"], port: null);
        var pub = Pub("pub", "mqttv5", [.. tls, "-t", topic, "-q", "2", "-m", "secret"], port: null);
        await pub.ExpectSuccessAsync(Deadline);
        await sub.ExpectSuccessAsync(Deadline);
        Assert.Equal("secret", Assert.Single(Messages(sub)).GetProperty("payload").GetString());
    }

    [Theory]
    [InlineData("mqttv311")]
    [InlineData("mqttv5")]
    public async Task Retained_LatestIsSentToNewSubscribers_AndAnEmptyRetainedPublishClearsIt(string version)
    {
        var topic = $"{Prefix}/retained";
        await Pub("pub-1", version, ["-t", $"{topic}/a", "-q", "1", "-r", "-m", "first"]).ExpectSuccessAsync(Deadline);
        await Pub("pub-2", version, ["-t", $"{topic}/a", "-q", "1", "-r", "-m", "second"]).ExpectSuccessAsync(Deadline);
        await Pub("pub-3", version, ["-t", $"{topic}/b", "-q", "0", "-r", "-m", "other"]).ExpectSuccessAsync(Deadline);

        // --retained-only: print retained messages, exit at the first live one (the marker).
        var before = await RetainedSnapshotAsync(version, topic, "before");
        Assert.Equal(["a=second", "b=other"], before.Order(StringComparer.Ordinal));

        await Pub("clear", version, ["-t", $"{topic}/a", "-q", "1", "-r", "-n"]).ExpectSuccessAsync(Deadline);
        var after = await RetainedSnapshotAsync(version, topic, "after");
        Assert.Equal(["b=other"], after);

        await Pub("clear-b", version, ["-t", $"{topic}/b", "-r", "-n"]).ExpectSuccessAsync(Deadline);
    }

    private async Task<List<string>> RetainedSnapshotAsync(string version, string topic, string name)
    {
        var sub = await SubscribeAsync($"sub-{name}", version, ["-t", $"{topic}/#", "-q", "1", "--retained-only"]);
        await Pub($"marker-{name}", version, ["-t", $"{topic}/marker", "-q", "1", "-m", "live"]).ExpectSuccessAsync(Deadline);
        await sub.ExpectSuccessAsync(Deadline);
        var messages = Messages(sub);
        Assert.All(messages, m => Assert.Equal(1, m.GetProperty("retain").GetInt32()));
        return [.. messages.Select(m => $"{m.GetProperty("topic").GetString()![(topic.Length + 1)..]}={m.GetProperty("payload").GetString()}")];
    }

    [Theory]
    [InlineData("mqttv311")]
    [InlineData("mqttv5")]
    public async Task Will_IsPublished_WhenTheClientDiesWithoutDisconnect(string version)
    {
        var willTopic = $"{Prefix}/will";
        var watcher = await SubscribeAsync("watcher", version, ["-t", willTopic, "-q", "1", "-C", "1"]);
        var doomed = await SubscribeAsync("doomed", version,
            ["-t", $"{Prefix}/doomed", "--will-topic", willTopic, "--will-payload", "gone", "--will-qos", "1", "-k", "60"]);

        doomed.Kill(); // SIGKILL: the socket closes with no DISCONNECT [MQTT-3.1.2-8]
        await watcher.ExpectSuccessAsync(Deadline);

        var will = Assert.Single(Messages(watcher));
        Assert.Equal("gone", will.GetProperty("payload").GetString());
        Assert.Equal(1, will.GetProperty("qos").GetInt32());
    }

    [Theory]
    [InlineData("mqttv311")]
    [InlineData("mqttv5")]
    public async Task Will_IsNotPublished_AfterANormalDisconnect(string version)
    {
        var willTopic = $"{Prefix}/will";
        var watcher = await SubscribeAsync("watcher", version, ["-t", willTopic, "-q", "1", "-C", "1"]);
        // -E: subscribe, then DISCONNECT normally and exit [MQTT-3.1.2-10].
        var polite = Sub("polite", version,
            ["-t", $"{Prefix}/polite", "-E", "--will-topic", willTopic, "--will-payload", "gone", "--will-qos", "1"]);
        await polite.ExpectSuccessAsync(Deadline);
        Assert.Contains(polite.StdoutLines, l => l.Contains("sending DISCONNECT", StringComparison.Ordinal));

        await Pub("marker", version, ["-t", willTopic, "-q", "1", "-m", "marker"]).ExpectSuccessAsync(Deadline);
        await watcher.ExpectSuccessAsync(Deadline);
        Assert.Equal("marker", Assert.Single(Messages(watcher)).GetProperty("payload").GetString());
    }

    [Theory]
    [InlineData("mqttv311")]
    [InlineData("mqttv5")]
    public async Task QoS0Burst_ThenDisconnectAndClose_EveryMessageIsRouted_AndTheWillIsDiscarded(string version)
    {
        // mosquitto_pub -l writes each PUBLISH, then DISCONNECT, then closes at once: the broker must process every
        // packet that arrived before the close, in order [MQTT-4.6.0-6], and discard the Will on DISCONNECT
        // [MQTT-3.1.2-10] (v3.1.1) / [MQTT-3.14.4-3] (v5). Several rounds, because losing the tail is timing-dependent.
        const int rounds = 8, perRound = 10;
        var topic = $"{Prefix}/burst";
        var sub = await SubscribeAsync("sub", version, ["-t", $"{topic}/#", "-q", "0", "-C", $"{rounds * perRound + 1}"]);
        var lines = string.Concat(Enumerable.Range(1, perRound).Select(i => $"m{i}\n"));
        for (var round = 1; round <= rounds; round++)
        {
            await Pub($"pub-{round}", version,
                ["-t", $"{topic}/data", "-q", "0", "-l", "--will-topic", $"{topic}/will", "--will-payload", $"will-{round}"],
                stdin: lines).ExpectSuccessAsync(Deadline);
        }
        await Pub("pub-end", version, ["-t", $"{topic}/end", "-q", "1", "-m", "end"]).ExpectSuccessAsync(Deadline);
        await sub.WaitForLineAsync(l => l.Contains($"\"topic\":\"{topic}/end\"", StringComparison.Ordinal), Deadline, "the end marker");

        var received = Messages(sub).Select(m => $"{m.GetProperty("topic").GetString()![(topic.Length + 1)..]}={m.GetProperty("payload").GetString()}").ToList();
        var expected = Enumerable.Range(1, rounds).SelectMany(_ => Enumerable.Range(1, perRound).Select(i => $"data=m{i}")).Append("end=end");
        Assert.True(!received.Any(r => r.StartsWith("will=", StringComparison.Ordinal)) && expected.SequenceEqual(received),
            $"expected {rounds} x m1..m{perRound} then end, and no will; received {received.Count}: {string.Join(" ", received)}");
    }

    [Theory]
    [InlineData("mqttv311")]
    [InlineData("mqttv5")]
    public async Task PersistentSession_ReceivesQoS1MessagesQueuedWhileAway(string version)
    {
        var topic = $"{Prefix}/persist";
        var id = "persist-" + Guid.NewGuid().ToString("N")[..12];
        // -c: clean session off (v3.1.1) / clean start off with session expiry "never" (v5); -E: leave after SUBACK.
        await Sub("first-visit", version, ["-c", "-i", id, "-t", topic, "-q", "1", "-E"]).ExpectSuccessAsync(Deadline);

        var pub = Pub("pub", version, ["-t", topic, "-q", "1", "-l"], stdin: "while-away-1\nwhile-away-2\nwhile-away-3\n");
        await pub.ExpectSuccessAsync(Deadline);

        var back = Sub("second-visit", version, ["-c", "-i", id, "-t", topic, "-q", "1", "-C", "3"]);
        await back.ExpectSuccessAsync(Deadline);
        Assert.Equal(["while-away-1", "while-away-2", "while-away-3"], Messages(back).Select(m => m.GetProperty("payload").GetString()));
        Assert.All(Messages(back), m => Assert.Equal(1, m.GetProperty("qos").GetInt32()));

        // End the session: a clean connection with the same id.
        await Sub("cleanup", version, ["-i", id, "-t", topic, "-E"]).ExpectSuccessAsync(Deadline);
    }

    [Fact]
    public async Task V5Properties_SetWithDashD_ReachTheSubscriberUnaltered()
    {
        var topic = $"{Prefix}/props";
        var sub = await SubscribeAsync("sub", "mqttv5", ["-t", topic, "-q", "1", "-C", "1"]);
        var pub = Pub("pub", "mqttv5",
        [
            "-t", topic, "-q", "1", "-m", "with-properties",
            "-D", "publish", "user-property", "k1", "v1",
            "-D", "publish", "user-property", "k2", "v2",
            "-D", "publish", "user-property", "k1", "v3",
            "-D", "publish", "content-type", "text/plain",
            "-D", "publish", "message-expiry-interval", "300",
            "-D", "publish", "response-topic", $"{Prefix}/reply",
            "-D", "publish", "correlation-data", "corr-42",
            "-D", "publish", "payload-format-indicator", "1",
        ]);
        await pub.ExpectSuccessAsync(Deadline);
        await sub.ExpectSuccessAsync(Deadline);

        var properties = Assert.Single(Messages(sub)).GetProperty("properties");
        var userProperties = properties.GetProperty("user-properties").EnumerateObject().Select(p => $"{p.Name}={p.Value.GetString()}");
        Assert.Equal(["k1=v1", "k2=v2", "k1=v3"], userProperties);
        Assert.Equal("text/plain", properties.GetProperty("content-type").GetString());
        Assert.Equal($"{Prefix}/reply", properties.GetProperty("response-topic").GetString());
        Assert.Equal("corr-42", properties.GetProperty("correlation-data").GetString());
        Assert.Equal(1, properties.GetProperty("payload-format-indicator").GetInt32());
        Assert.InRange(properties.GetProperty("message-expiry-interval").GetInt32(), 290, 300);
    }

    [Fact]
    public async Task V5_ConnectWithUserPropertyAndSessionExpiry_IsAccepted_AndUnsubscribeStopsDelivery()
    {
        var topic = $"{Prefix}/unsub";
        // -U unsubscribes after subscribing; the broker must answer UNSUBACK and deliver nothing further.
        var sub = await SubscribeAsync("sub", "mqttv5",
            ["-t", $"{topic}/+", "-U", $"{topic}/+", "-t", $"{topic}/kept", "-q", "1", "-C", "1", "-x", "30",
             "-D", "connect", "user-property", "device", "d-1", "-D", "connect", "receive-maximum", "10"],
            ready: "received UNSUBACK");
        // Only the removed filter matches "other"; -C 1 makes the first delivered message the verdict.
        await Pub("pub-other", "mqttv5", ["-t", $"{topic}/other", "-q", "1", "-m", "unsubscribed"]).ExpectSuccessAsync(Deadline);
        await Pub("pub-kept", "mqttv5", ["-t", $"{topic}/kept", "-q", "1", "-m", "kept"]).ExpectSuccessAsync(Deadline);
        await sub.ExpectSuccessAsync(Deadline);
        Assert.Equal("kept", Assert.Single(Messages(sub)).GetProperty("payload").GetString());
    }

    // ---------------------------------------------------------------------------------------------------------

    private ClientProcess Pub(string name, string version, IEnumerable<string> arguments, string? stdin = null, int? port = -1) =>
        MosquittoTool("mosquitto_pub", name, version, arguments, stdin, port);

    private ClientProcess Sub(string name, string version, IEnumerable<string> arguments, int? port = -1) =>
        MosquittoTool("mosquitto_sub", name, version, arguments, null, port);

    private ClientProcess MosquittoTool(string tool, string name, string version, IEnumerable<string> arguments, string? stdin, int? port)
    {
        List<string> args = ["-h", Server.Host, "-V", version, "-d"];
        if (port is not null)
            args.AddRange(["-p", $"{(port == -1 ? Server.MqttPort : port)}"]);
        if (tool == "mosquitto_sub")
            args.AddRange(["-F", "%j"]); // one JSON object per message, properties included
        args.AddRange(arguments);
        // stdbuf: mosquitto_pub/sub use stdio, which buffers a pipe fully; lines are needed as they happen.
        return Start($"{name} ({tool})", "stdbuf", ["-oL", "-eL", tool, .. args], stdin);
    }

    /// <summary>Starts mosquitto_sub and waits until the broker has acknowledged its subscriptions.</summary>
    private async Task<ClientProcess> SubscribeAsync(string name, string version, IEnumerable<string> arguments, int? port = -1, string ready = "received SUBACK")
    {
        var sub = MosquittoTool("mosquitto_sub", name, version, arguments, null, port);
        await sub.WaitForLineAsync(ready, Deadline);
        return sub;
    }

    private static List<JsonElement> Messages(ClientProcess sub) =>
        [.. sub.StdoutLines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement.Clone())];
}
