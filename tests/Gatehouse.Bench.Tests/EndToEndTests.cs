using Gatehouse.Bench;
using Gatehouse.Protocol;
using Gatehouse.Testing;

namespace Gatehouse.Bench.Tests;

/// <summary>Short runs against the real server: the counts must be exact. Nothing here asserts a rate or a time.</summary>
public sealed class EndToEndTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private ServerProcess _server = null!;

    public async Task InitializeAsync() => _server = await ServerProcess.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private BenchOptions Options(string scenario) => new() { Scenario = scenario, Port = _server.MqttPort, DrainTimeoutSeconds = 30 };

    [Theory]
    [InlineData(ProtocolVersion.V500)]
    [InlineData(ProtocolVersion.V311)]
    public async Task Pub_and_sub_count_1000_QoS1_messages_exactly(ProtocolVersion version)
    {
        using var timeout = new CancellationTokenSource(Deadline);
        var subscribed = new SubscribedSignal();
        var sub = BenchRunner.RunAsync(
            Options(Scenarios.Sub) with { Topic = "e2e/#", QoS = 1, Count = 1000, DurationSeconds = 50, Version = version },
            subscribed, timeout.Token);
        await subscribed.Task.WaitAsync(timeout.Token);

        var pub = await BenchRunner.RunAsync(
            Options(Scenarios.Pub) with { Topic = "e2e/{i}", Clients = 2, QoS = 1, Count = 1000, Version = version },
            null, timeout.Token);
        var received = await sub;

        Assert.Equal(1000, pub.Sent);
        Assert.Equal(1000, pub.Acked);
        Assert.Equal(0, pub.Unacknowledged);
        Assert.Equal(0, pub.Errors);
        Assert.Equal(1000, received.Received);
        Assert.Equal(0, received.Lost);
        Assert.Equal(0, received.Duplicates);
        Assert.Equal(0, received.OutOfOrder);
        Assert.Equal(1000, received.LatencyUs!.Count);
    }

    [Fact]
    public async Task Fan_in_QoS1_accounts_for_every_acknowledged_message()
    {
        using var timeout = new CancellationTokenSource(Deadline);
        var result = await BenchRunner.RunAsync(Options(Scenarios.FanInQoS1) with { Clients = 4, Count = 1000 }, null, timeout.Token);
        Assert.Equal(5, result.Connections);
        Assert.Equal(1000, result.Sent);
        Assert.Equal(1000, result.Acked);
        Assert.Equal(1000, result.Received);
        Assert.Equal(0, result.Lost);
        Assert.Equal(0, result.Duplicates);
        Assert.Equal(0, result.Errors);
    }

    [Fact]
    public async Task Fan_out_QoS0_delivers_each_message_to_every_subscriber()
    {
        using var timeout = new CancellationTokenSource(Deadline);
        var result = await BenchRunner.RunAsync(Options(Scenarios.FanOut) with { Clients = 10, Count = 500 }, null, timeout.Token);
        Assert.Equal(500, result.Sent);
        Assert.Equal(5000, result.Received);
        Assert.Equal(0, result.Lost);
        Assert.Equal(0, result.Duplicates);
    }

    [Fact]
    public async Task Backlog_drains_every_queued_message_after_reconnect()
    {
        using var timeout = new CancellationTokenSource(Deadline);
        var result = await BenchRunner.RunAsync(Options(Scenarios.Backlog) with { Clients = 3, Count = 1000 }, null, timeout.Token);
        Assert.Equal(1000, result.Acked);
        Assert.Equal(1000, result.Received);
        Assert.Equal(0, result.Lost);
        Assert.Equal(0, result.Errors);
        Assert.NotNull(result.DrainRate);
    }

    [Fact]
    public async Task Idle_connections_are_counted_and_the_broker_memory_is_read()
    {
        using var timeout = new CancellationTokenSource(Deadline);
        var result = await BenchRunner.RunAsync(
            Options(Scenarios.IdleConns) with { Clients = 200, DurationSeconds = 0, BrokerPid = _server.ProcessId }, null, timeout.Token);
        Assert.Equal(200, result.Connections);
        Assert.Equal(0, result.ConnectFailures);
        Assert.NotNull(result.BrokerRssBeforeBytes);
        Assert.NotNull(result.BrokerRssPerConnectionBytes);
    }

    [Fact]
    public async Task Json_output_is_one_document()
    {
        using var timeout = new CancellationTokenSource(Deadline);
        var result = await BenchRunner.RunAsync(Options(Scenarios.Pairs) with { Clients = 2, Count = 100 }, null, timeout.Token);
        using var doc = System.Text.Json.JsonDocument.Parse(result.ToJson());
        Assert.Equal("pairs", doc.RootElement.GetProperty("scenario").GetString());
        Assert.Equal(100, doc.RootElement.GetProperty("received").GetInt64());
        Assert.Equal(0, doc.RootElement.GetProperty("lost").GetInt64());
    }

    /// <summary>A progress sink that completes once the run reaches its publish phase (clients connected and subscribed).</summary>
    private sealed class SubscribedSignal : IBenchProgress
    {
        private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Task => _ready.Task;

        public async Task RunAsync(Func<ProgressSnapshot> snapshot, CancellationToken stop)
        {
            while (!stop.IsCancellationRequested)
            {
                if (snapshot().Phase is not "connect") _ready.TrySetResult();
                try
                {
                    await Task.Delay(10, stop);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
            _ready.TrySetResult();
        }
    }
}
