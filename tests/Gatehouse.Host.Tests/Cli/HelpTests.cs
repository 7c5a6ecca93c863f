using Gatehouse.Host.Tests.Infrastructure;

namespace Gatehouse.Host.Tests.Cli;

public sealed class HelpTests
{
    [Fact]
    public async Task Root_help_lists_the_serve_command()
    {
        var result = await GatehouseCommand.RunAsync("--help");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("serve", result.Stdout, StringComparison.Ordinal);
        Assert.Equal("", result.Stderr);
    }

    [Fact]
    public async Task Serve_help_lists_every_flag_and_the_configuration_rules()
    {
        var result = await GatehouseCommand.RunAsync("serve", "--help");
        Assert.Equal(0, result.ExitCode);
        foreach (var flag in new[]
                 {
                     "--mqtt-port", "--ws-port", "--tls-port", "--wss-port", "--http-port", "--bind", "--data-dir",
                     "--storage", "--config", "--max-keep-alive", "--max-packet-size", "--tls-cert", "--tls-key",
                 })
        {
            Assert.Contains(flag, result.Stdout, StringComparison.Ordinal);
        }
        Assert.Contains("GATEHOUSE_Broker__MaxConnections", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("--Broker:MaxConnections=", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_command_is_a_one_line_usage_error()
    {
        var result = await GatehouseCommand.RunAsync("frobnicate");
        GatehouseCommand.AssertOneLineError(result, "'frobnicate'");
        Assert.Equal(2, result.ExitCode);
    }
}
