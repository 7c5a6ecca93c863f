using Gatehouse.Host.Tests.Infrastructure;
using Gatehouse.Protocol;
using Gatehouse.Testing;
using Microsoft.Data.Sqlite;

namespace Gatehouse.Host.Tests.Cli;

/// <summary><c>gatehouse store stats|check|compact</c> against a data directory a real server filled.</summary>
public sealed class StoreCommandTests : IDisposable
{
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "gatehouse-store-cli", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_dataDir, recursive: true); } catch (IOException) { }
    }

    /// <summary>One persistent session with a subscription and three queued QoS 1 messages, one retained message.</summary>
    private async Task<ServerProcess> FillAsync()
    {
        var server = await ServerProcess.StartAsync(new ServerProcessOptions { Storage = "sqlite", DataDirectory = _dataDir });
        try
        {
            var persistent = new MqttProperties { SessionExpiryInterval = 600 };
            await using (var subscriber = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V500, "store-cli-sub", cleanStart: false, properties: persistent))
            {
                await subscriber.SubscribeGrantedAsync("cli/#", QoS.AtLeastOnce);
                await subscriber.DisconnectAsync();
            }
            await using var publisher = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V311, "store-cli-pub");
            for (var i = 0; i < 3; i++) await publisher.PublishAsync($"cli/{i}", "x", QoS.AtLeastOnce);
            await publisher.PublishAsync("status/cli", "up", QoS.AtLeastOnce, retain: true);
            return server;
        }
        catch
        {
            // The caller's `await using` never gets the server: stop it here, or a failed fill leaves a broker running.
            await server.DisposeAsync();
            throw;
        }
    }

    [Fact]
    public async Task Stats_reports_counts_sizes_and_format_version_beside_a_running_server()
    {
        await using var server = await FillAsync();
        var result = await GatehouseCommand.RunAsync("store", "stats", "--data-dir", _dataDir);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("format version: 3", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("sessions: 1\n", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("subscriptions: 1\n", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("messages: 3\n", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("deliveries: 3 (0 in flight)", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("retained: 1\n", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("incoming qos2: 0\n", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("database bytes: ", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Check_passes_a_healthy_store_and_names_broken_reference_counts_with_exit_1()
    {
        await using (var server = await FillAsync()) await server.StopAsync();
        var healthy = await GatehouseCommand.RunAsync("store", "check", "--data-dir", _dataDir);
        Assert.True(healthy.ExitCode == 0, healthy.ToString());
        Assert.Equal("store: ok\n", healthy.Stdout);

        using (var connection = new SqliteConnection($"Data Source={Path.Combine(_dataDir, "gatehouse.db")};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "UPDATE messages SET refs = refs + 1 WHERE id = (SELECT min(id) FROM messages); DELETE FROM sessions;";
            command.ExecuteNonQuery();
        }
        var broken = await GatehouseCommand.RunAsync("store", "check", "--data-dir", _dataDir);
        Assert.Equal(1, broken.ExitCode);
        Assert.Contains("problem: 1 message bodies whose reference count differs from their deliveries", broken.Stdout, StringComparison.Ordinal);
        Assert.Contains("problem: 3 deliveries of sessions that do not exist", broken.Stdout, StringComparison.Ordinal);
        Assert.Contains("problem: 1 subscriptions of sessions that do not exist", broken.Stdout, StringComparison.Ordinal);
        GatehouseCommand.AssertOneLineError(broken, "has 3 problem(s)");
    }

    [Fact]
    public async Task Compact_is_refused_while_the_server_runs_and_shrinks_the_store_after()
    {
        await using var server = await FillAsync();
        var refused = await GatehouseCommand.RunAsync("store", "compact", "--data-dir", _dataDir);
        GatehouseCommand.AssertOneLineError(refused, "in use by another Gatehouse process");

        await server.StopAsync();
        var compacted = await GatehouseCommand.RunAsync("store", "compact", "--data-dir", _dataDir);
        Assert.True(compacted.ExitCode == 0, compacted.ToString());
        Assert.StartsWith("store: compacted ", compacted.Stdout, StringComparison.Ordinal);
        var check = await GatehouseCommand.RunAsync("store", "check", "--data-dir", _dataDir);
        Assert.True(check.ExitCode == 0, check.ToString());

        // The store still holds everything after compaction.
        await server.RestartAsync();
        Assert.True(await server.WaitForOutputAsync("Recovered 1 sessions, 1 subscriptions, 3 queued messages and 1 retained messages", TimeSpan.FromSeconds(5)),
            server.Output);
    }

    [Fact]
    public async Task Every_subcommand_refuses_a_directory_without_a_store_and_creates_nothing()
    {
        foreach (var sub in new[] { "stats", "check", "compact" })
        {
            var result = await GatehouseCommand.RunAsync("store", sub, "--data-dir", _dataDir);
            GatehouseCommand.AssertOneLineError(result, "No store at");
        }
        Assert.False(File.Exists(Path.Combine(_dataDir, "gatehouse.db")));
    }
}
