using Gatehouse.Testing;

namespace Gatehouse.Host.Tests.Hosting;

/// <summary>
/// A server that may use one core turns the thread pool's spinning off before the pool starts (Program), unless the
/// environment sets the spin limit itself; with more cores it is left alone.
/// </summary>
public sealed class ThreadPoolSpinningTests
{
    private const string Line = "idle thread-pool workers sleep without spinning";

    [Fact]
    public async Task A_server_on_one_core_turns_the_spinning_off()
    {
        await using var server = await ServerProcess.StartAsync(new ServerProcessOptions { OneCore = true });
        await Eventually.Assert(() => server.Output.Contains(Line, StringComparison.Ordinal), "the start-up line saying the spinning is off");
    }

    [Fact]
    public async Task A_spin_limit_from_the_environment_is_kept()
    {
        await using var server = await ServerProcess.StartAsync(new ServerProcessOptions
        {
            OneCore = true,
            Environment = new Dictionary<string, string> { ["DOTNET_ThreadPool_UnfairSemaphoreSpinLimit"] = "70" },
        });
        await AssertReadyWithoutLine(server);
    }

    [Fact]
    public async Task A_server_on_several_cores_keeps_the_spinning()
    {
        // Two cores as the runtime counts them, whatever the test runner's own affinity.
        await using var server = await ServerProcess.StartAsync(new ServerProcessOptions
        {
            Environment = new Dictionary<string, string> { ["DOTNET_PROCESSOR_COUNT"] = "2" },
        });
        await AssertReadyWithoutLine(server);
    }

    private static async Task AssertReadyWithoutLine(ServerProcess server)
    {
        // The line is logged while the broker is built, before the listeners start; a connection proves start-up ended.
        await using var client = await MqttTestClient.ConnectNewAsync(server.MqttPort, Gatehouse.Protocol.ProtocolVersion.V311, "spin-check");
        Assert.DoesNotContain(Line, server.Output, StringComparison.Ordinal);
    }
}
