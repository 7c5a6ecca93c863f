using System.CommandLine;
using System.Globalization;
using Gatehouse.Bench;
using Gatehouse.Hosting;
using Gatehouse.Protocol;

namespace Gatehouse.Cli;

/// <summary><c>gatehouse bench SCENARIO</c>: the load generator (src/Gatehouse.Bench) against any MQTT broker.</summary>
internal static class BenchCommand
{
    private const string Description =
        "Load-test an MQTT broker: msg/s, latency percentiles, connect rate, lost/duplicate/out-of-order counts.";

    public static string HelpSection { get; } = BuildHelpSection();

    private static string BuildHelpSection()
    {
        var lines = new List<string> { "Scenarios:" };
        lines.AddRange(Scenarios.All.Select(s => $"  {s.Name,-12} {s.Description}"));
        lines.Add("");
        lines.Add("--clients is the number of publishers (pub, fan-in, fan-in-qos1, backlog), pairs (pairs),");
        lines.Add("subscribers (sub, fan-out) or connections (conn, idle-conns). --count is the total number of messages");
        lines.Add("(split over the publishers), or of messages to receive (sub). Topic placeholders: {i} client index,");
        lines.Add("{n} message sequence. Payloads carry publisher, sequence and send time (min 22 bytes).");
        lines.Add("");
        return string.Join(Environment.NewLine, lines);
    }

    public static Command Create()
    {
        var command = new Command("bench", Description);
        // Optional for the parser so that `gatehouse bench --help` works; required by the action.
        var scenario = new Argument<string?>("scenario") { Description = "What to run (see below)", Arity = ArgumentArity.ZeroOrOne };
        scenario.AcceptOnlyFromAmong([.. Scenarios.All.Select(s => s.Name)]);
        command.Arguments.Add(scenario);

        var host = Add(command, new Option<string>("--host") { Description = "Broker address", HelpName = "HOST", DefaultValueFactory = _ => "127.0.0.1" });
        var port = Add(command, new Option<int>("--port") { Description = "Broker MQTT port", HelpName = "N", DefaultValueFactory = _ => 1883 });
        var clients = Add(command, new Option<int?>("--clients") { Description = "Clients; meaning depends on the scenario (see below)", HelpName = "N" });
        var rate = Add(command, new Option<double>("--rate") { Description = "Messages per second per publisher; 0 = unpaced [default: 0]", HelpName = "MSG/S" });
        var qos = Add(command, new Option<int?>("--qos") { Description = "QoS of publications and subscriptions [default: per scenario]", HelpName = "0|1|2" });
        var payload = Add(command, new Option<int>("--payload") { Description = "Payload size in bytes", HelpName = "SIZE", DefaultValueFactory = _ => 64 });
        var topic = Add(command, new Option<string?>("--topic") { Description = "Topic pattern (publishers) or filter (sub)", HelpName = "PATTERN" });
        var version = Add(command, new Option<int>("--version") { Description = "MQTT version: 3 (3.1.1) or 5", HelpName = "3|5", DefaultValueFactory = _ => 5 });
        version.AcceptOnlyFromAmong("3", "5");
        var tls = Add(command, new Option<bool>("--tls") { Description = "Connect over TLS (the certificate is not verified)" });
        var persistent = Add(command, new Option<bool>("--persistent") { Description = "Persistent sessions: clean start 0, session expiry 300 s" });
        var clean = Add(command, new Option<bool>("--clean") { Description = "Clean sessions (the default)" });
        var duration = Add(command, new Option<double?>("--duration") { Description = "Seconds to publish (or to hold connections) [default: per scenario]", HelpName = "S" });
        var count = Add(command, new Option<long?>("--count") { Description = "Messages in total instead of a duration", HelpName = "N" });
        var rampUp = Add(command, new Option<double>("--ramp-up") { Description = "Spread the connects over this many seconds [default: 0]", HelpName = "S" });
        var inflight = Add(command, new Option<int>("--inflight") { Description = "QoS 1/2: most unacknowledged messages per publisher", HelpName = "N", DefaultValueFactory = _ => 16 });
        var window = Add(command, new Option<int?>("--window") { Description = "QoS 0: most messages per publisher not yet received; 0 = open loop [default: per scenario]", HelpName = "N" });
        var brokerPid = Add(command, new Option<int?>("--broker-pid") { Description = "Broker process id: report its CPU and, for idle-conns, RSS per connection", HelpName = "PID" });
        var concurrency = Add(command, new Option<int>("--connect-concurrency") { Description = "Connections opened at once", HelpName = "N", DefaultValueFactory = _ => 100 });
        var sourceIps = Add(command, new Option<int>("--source-ips") { Description = "Spread connections over 127.0.0.1..N (loopback brokers; for more than ~28k connections)", HelpName = "N", DefaultValueFactory = _ => 1 });
        var json = Add(command, new Option<bool>("--json") { Description = "Print one JSON document at the end (progress goes to stderr)" });

        command.SetAction((parse, cancellationToken) =>
        {
            if (parse.GetValue(scenario) is not { } name)
            {
                GatehouseCli.WriteError("bench needs a scenario: " + string.Join(", ", Scenarios.All.Select(s => s.Name)) + " (see 'gatehouse bench --help')");
                return Task.FromResult(GatehouseCli.UsageError);
            }
            var options = new BenchOptions
            {
                Scenario = name,
                Host = parse.GetValue(host)!,
                Port = parse.GetValue(port),
                Clients = parse.GetValue(clients),
                Rate = parse.GetValue(rate),
                QoS = parse.GetValue(qos),
                PayloadSize = parse.GetValue(payload),
                Topic = parse.GetValue(topic),
                Version = parse.GetValue(version) == 3 ? ProtocolVersion.V311 : ProtocolVersion.V500,
                Tls = parse.GetValue(tls),
                Persistent = parse.GetValue(persistent) && !parse.GetValue(clean),
                DurationSeconds = parse.GetValue(duration),
                Count = parse.GetValue(count),
                RampUpSeconds = parse.GetValue(rampUp),
                Inflight = parse.GetValue(inflight),
                Window = parse.GetValue(window),
                BrokerPid = parse.GetValue(brokerPid),
                ConnectConcurrency = parse.GetValue(concurrency),
                SourceAddresses = parse.GetValue(sourceIps),
                Json = parse.GetValue(json),
            };
            return RunAsync(options, cancellationToken);
        });
        return command;
    }

    private const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    private static Option<T> Add<T>(Command command, Option<T> option)
    {
        command.Options.Add(option);
        return option;
    }

    private static async Task<int> RunAsync(BenchOptions options, CancellationToken cancellationToken)
    {
        // Run socket continuations on the socket engine's thread instead of queueing them to the thread pool: the
        // receive loops never block, and on one core this halves the generator's CPU per message and cuts latency.
        // Read once, when the first socket is created; an explicit setting in the environment wins.
        if (Environment.GetEnvironmentVariable(InlineCompletions) is null) Environment.SetEnvironmentVariable(InlineCompletions, "1");
        IBenchProgress progress = options.Json ? new PlainProgress(Console.Error)
            : Console.IsOutputRedirected ? new PlainProgress(Console.Out)
            : new LiveProgress();
        try
        {
            // Every connection is a descriptor: grow the table once now rather than stall at each doubling mid-run.
            if (DescriptorBudget.ForCurrentProcess() is { } budget) DescriptorTable.Presize(BenchRunner.ConnectionsNeeded(options) + 256, budget.OpenFileLimit);
            var result = await BenchRunner.RunAsync(options, progress, cancellationToken);
            Console.Out.Write(options.Json ? result.ToJson() + Environment.NewLine : result.ToText());
            return 0;
        }
        catch (BenchException ex)
        {
            GatehouseCli.WriteError(ex.Message);
            return GatehouseCli.Failure;
        }
        catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException)
        {
            GatehouseCli.WriteError(string.Create(CultureInfo.InvariantCulture, $"{options.Host}:{options.Port}: {ex.Message}"));
            return GatehouseCli.Failure;
        }
    }
}
