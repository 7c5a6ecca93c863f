using System.Diagnostics;
using System.Globalization;
using System.Text;
using Gatehouse.Broker.Tests.BlackBox;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.Durability;

/// <summary>
/// Issue 3's crash test: the real server with the SQLite store, killed with SIGKILL at random moments several times
/// while QoS 1 and QoS 2 publishers (5.0 and 3.1.1) send numbered messages to persistent subscribers (offline the whole
/// time, online and acknowledging, and members of a shared subscription); then everyone reconnects and we count.
/// Every message a publisher had PUBACK/PUBCOMP for must reach every matching persistent session (the shared group
/// counting as one): at least once for QoS 1, exactly once for QoS 2. Subscriptions and retained messages survive.
/// The kill moments come from a seed printed in the output; GATEHOUSE_CRASH_SEED replays them.
/// </summary>
public sealed class KillRestartTests(ITestOutputHelper output) : BlackBoxTest(null, output)
{
    private const int Kills = 6;
    /// <summary>Acknowledgements to see between kills, so each kill lands in a running stream.</summary>
    private const int ProgressBetweenKills = 300;
    /// <summary>Upper bound per publisher, keeping the test's duration bounded on a fast machine.</summary>
    private const int MessageLimit = 5_000;

    [Fact]
    public async Task Every_acknowledged_message_reaches_every_persistent_session_after_repeated_SIGKILL()
    {
        var seed = Environment.GetEnvironmentVariable("GATEHOUSE_CRASH_SEED") is { Length: > 0 } configured
            ? int.Parse(configured, CultureInfo.InvariantCulture)
            : Random.Shared.Next();
        Log($"seed {seed} (GATEHOUSE_CRASH_SEED={seed} replays the kill moments)");
        var random = new Random(seed);
        var elapsed = Stopwatch.StartNew();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(90));

        var server = await StartServerAsync(new ServerProcessOptions
        {
            Storage = "sqlite",
            // Offline sessions hold every message of the test.
            Arguments = ["--Broker:MaxQueuedMessages=1000000", "--Broker:MaxQueuedBytes=1073741824"],
        });
        int Port() => server.MqttPort;

        var root = UniqueNames.Topic("crash");
        var group = "$share/g/" + root + "/#";
        CrashPublisher[] publishers =
        [
            new(UniqueNames.ClientId("p5q1"), ProtocolVersion.V500, QoS.AtLeastOnce, root, retain: true, MessageLimit),
            new(UniqueNames.ClientId("p3q1"), ProtocolVersion.V311, QoS.AtLeastOnce, root, retain: false, MessageLimit),
            new(UniqueNames.ClientId("p5q2"), ProtocolVersion.V500, QoS.ExactlyOnce, root, retain: false, MessageLimit),
            new(UniqueNames.ClientId("p3q2"), ProtocolVersion.V311, QoS.ExactlyOnce, root, retain: true, MessageLimit),
        ];
        CrashSubscriber[] offline =
        [
            new(UniqueNames.ClientId("off5"), ProtocolVersion.V500, root + "/#"),
            new(UniqueNames.ClientId("off3"), ProtocolVersion.V311, root + "/#"),
        ];
        CrashSubscriber[] online =
        [
            new(UniqueNames.ClientId("on5"), ProtocolVersion.V500, root + "/#"),
            new(UniqueNames.ClientId("on3"), ProtocolVersion.V311, root + "/#"),
        ];
        CrashSubscriber[] members =
        [
            new(UniqueNames.ClientId("g5a"), ProtocolVersion.V500, group),
            new(UniqueNames.ClientId("g5b"), ProtocolVersion.V500, group),
        ];
        foreach (var subscriber in offline.Concat(online).Concat(members)) await subscriber.SubscribeAsync(Port(), stayOffline: true);

        using var stopSubscribers = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
        var onlineTasks = online.Concat(members).Select(s => Task.Run(() => s.RunAsync(Port, stopSubscribers.Token))).ToList();
        var publisherTasks = publishers.Select(p => Task.Run(() => p.RunAsync(Port, deadline.Token))).ToList();
        int Acknowledged() => publishers.Sum(p => p.AcknowledgedCount);
        bool PublishersDone() => publisherTasks.TrueForAll(t => t.IsCompleted);

        for (var kill = 1; kill <= Kills; kill++)
        {
            var before = Acknowledged();
            await Eventually.Assert(() => Acknowledged() >= before + ProgressBetweenKills || PublishersDone(),
                $"publishers make progress before kill {kill} (acknowledged {Acknowledged()})", TimeSpan.FromSeconds(30));
            ThrowIfFaulted(publisherTasks.Concat(onlineTasks));
            await Task.Delay(random.Next(0, 400), deadline.Token); // the random moment of the kill
            Log($"kill {kill} at {elapsed.Elapsed.TotalSeconds:0.00} s: acknowledged {Acknowledged()} of {publishers.Sum(p => p.Sent)} sent; in flight {publishers.Sum(p => p.PendingCount)}");
            server.Kill();
            var restart = Stopwatch.StartNew();
            await server.RestartAsync(deadline.Token);
            Log($"restarted in {restart.ElapsedMilliseconds} ms");
        }

        // A little more traffic after the last restart, then every publisher completes what it has in flight.
        var afterLast = Acknowledged();
        await Eventually.Assert(() => Acknowledged() >= afterLast + ProgressBetweenKills || PublishersDone(),
            "publishers make progress after the last restart", TimeSpan.FromSeconds(30));
        foreach (var publisher in publishers) publisher.Stop();
        await Task.WhenAll(publisherTasks).WaitAsync(TimeSpan.FromSeconds(30));
        Log($"publishers done at {elapsed.Elapsed.TotalSeconds:0.00} s: " +
            string.Join(", ", publishers.Select(p => $"{p.Name} {p.AcknowledgedCount}/{p.Sent} acknowledged, {p.Reconnects} reconnects, {p.Resent} resent")));

        // The offline sessions connect for the first time since they subscribed.
        var offlineTasks = offline.Select(s => Task.Run(() => s.RunAsync(Port, stopSubscribers.Token))).ToList();
        var expected = publishers.SelectMany(p => p.Acknowledged.Select(n => (Publisher: p, Payload: CrashConnection.Payload(p.Name, n)))).ToList();
        bool Complete(IReadOnlyList<CrashSubscriber> session) => expected.TrueForAll(e => session.Sum(s => s.Delivered(e.Payload)) > 0);
        var sessions = offline.Concat(online).Select(s => (IReadOnlyList<CrashSubscriber>)[s]).Append(members).ToList();
        var arrived = await Eventually.Until(
            () => sessions.TrueForAll(Complete) && offline.Concat(online).Concat(members).All(s => s.SinceLastPacket > TimeSpan.FromMilliseconds(500)),
            TimeSpan.FromSeconds(30));
        Log($"subscribers {(arrived ? "complete" : "INCOMPLETE")} at {elapsed.Elapsed.TotalSeconds:0.00} s: " +
            string.Join(", ", offline.Concat(online).Concat(members).Select(s => $"{s.ClientId} {s.DeliveredCount} distinct, {s.Connections} connections")));
        await stopSubscribers.CancelAsync();
        await Task.WhenAll(onlineTasks.Concat(offlineTasks)).WaitAsync(TimeSpan.FromSeconds(10));

        var retainedTopics = await ReadRetainedAsync(Port(), publishers.Where(p => p.Retain).ToList());
        Log($"total {elapsed.Elapsed.TotalSeconds:0.00} s, {Kills} kills, {expected.Count} acknowledged messages, {retainedTopics.Count} retained read back");

        // ---- the count ----
        var errors = publishers.SelectMany(p => p.Errors).Concat(offline.Concat(online).Concat(members).SelectMany(s => s.Errors)).ToList();
        Assert.True(errors.Count == 0, "protocol errors:\n" + string.Join("\n", errors.Take(20)));
        foreach (var publisher in publishers)
        {
            Assert.True(publisher.AcknowledgedCount == publisher.Sent,
                $"{publisher.Name}: only {publisher.AcknowledgedCount} of {publisher.Sent} messages were ever acknowledged");
        }
        var problems = new List<string>();
        var expectedPayloads = expected.Select(e => e.Payload).ToHashSet(StringComparer.Ordinal);
        foreach (var session in sessions)
        {
            var label = session.Count == 1 ? session[0].ClientId : "shared group " + group;
            foreach (var (publisher, payload) in expected)
            {
                var count = session.Sum(s => s.Delivered(payload));
                if (count == 0) problems.Add($"{label}: acknowledged {payload} never arrived");
                else if (count > 1 && publisher.QoS == QoS.ExactlyOnce) problems.Add($"{label}: QoS 2 {payload} arrived {count} times");
            }
            var unknown = session.SelectMany(s => s.Payloads).Where(p => !expectedPayloads.Contains(p)).Take(3).ToList();
            if (unknown.Count > 0) problems.Add($"{label}: received messages no publisher had acknowledged: {string.Join(", ", unknown)}");
        }
        Assert.True(problems.Count == 0, $"{problems.Count} problems (seed {seed}):\n" + string.Join("\n", problems.Take(30)));

        foreach (var publisher in publishers.Where(p => p.Retain))
        {
            var missing = publisher.Acknowledged.Where(n => !retainedTopics.Contains($"{publisher.TopicRoot}/{n}")).Take(5).ToList();
            Assert.True(missing.Count == 0, $"{publisher.Name}: retained messages lost, e.g. numbers {string.Join(", ", missing)}");
        }
    }

    /// <summary>A new clean session subscribes to each retaining publisher's topics and collects the retained messages.</summary>
    private static async Task<HashSet<string>> ReadRetainedAsync(int port, IReadOnlyList<CrashPublisher> publishers)
    {
        var topics = new HashSet<string>(StringComparer.Ordinal);
        await using var reader = await MqttTestClient.ConnectNewAsync(port, ProtocolVersion.V500, UniqueNames.ClientId("retained"));
        foreach (var publisher in publishers)
        {
            await reader.SubscribeGrantedAsync(publisher.TopicRoot + "/#", QoS.AtMostOnce);
            var want = publisher.AcknowledgedCount;
            var received = 0;
            while (received < want)
            {
                PublishPacket publish;
                try
                {
                    publish = await reader.ReceivePublishAsync(TimeSpan.FromSeconds(5));
                }
                catch (MqttTestException)
                {
                    break; // fewer than expected: the assertion names what is missing
                }
                Assert.True(publish.Retain, $"retained message {publish.Topic} arrived without RETAIN");
                Assert.Equal(publish.Topic.Split('/')[^2] + ":" + publish.Topic.Split('/')[^1], Encoding.UTF8.GetString(publish.Payload.Span));
                topics.Add(publish.Topic);
                received++;
            }
        }
        return topics;
    }

    private static void ThrowIfFaulted(IEnumerable<Task> tasks)
    {
        foreach (var task in tasks)
        {
            if (task.IsFaulted) task.GetAwaiter().GetResult();
        }
    }

    private void Log(string line)
    {
        Output.WriteLine(line);
    }
}
