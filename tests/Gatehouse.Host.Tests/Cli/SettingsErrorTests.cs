using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Gatehouse.Host.Tests.Infrastructure;
using Gatehouse.Testing;

namespace Gatehouse.Host.Tests.Cli;

/// <summary>An invalid setting or a taken port stops start-up with one line on stderr and a non-zero exit.</summary>
public sealed class SettingsErrorTests
{
    private static string[] Serve(params string[] extra)
        => ["serve", "--bind", "127.0.0.1", "--mqtt-port", "0", "--ws-port", "0", "--http-port", "0", .. extra];

    [Fact]
    public async Task Port_out_of_range_is_refused()
    {
        var result = await GatehouseCommand.RunAsync("serve", "--mqtt-port", "70000");
        GatehouseCommand.AssertOneLineError(result, "port 70000 out of range for --mqtt-port");
    }

    [Fact]
    public async Task Negative_port_is_refused()
    {
        var result = await GatehouseCommand.RunAsync("serve", "--http-port=-1");
        GatehouseCommand.AssertOneLineError(result, "port -1 out of range for --http-port");
    }

    [Fact]
    public async Task Unparsable_port_is_refused()
    {
        var result = await GatehouseCommand.RunAsync("serve", "--ws-port", "abc");
        GatehouseCommand.AssertOneLineError(result, "invalid value 'abc' for --ws-port (Server:WsPort)");
    }

    [Fact]
    public async Task Taken_port_names_the_port_and_the_listener()
    {
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        holder.Listen();
        var port = ((IPEndPoint)holder.LocalEndPoint!).Port.ToString(CultureInfo.InvariantCulture);

        var result = await GatehouseCommand.RunAsync("serve", "--bind", "127.0.0.1", "--mqtt-port", port, "--ws-port", "0", "--http-port", "0");

        GatehouseCommand.AssertOneLineError(result, $"port {port} is already in use (mqtt)");
        Assert.Equal($"gatehouse: error: port {port} is already in use (mqtt)", result.StderrLines[0]);
    }

    [Fact]
    public async Task Taken_http_port_is_reported_for_the_http_listener()
    {
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        holder.Listen();
        var port = ((IPEndPoint)holder.LocalEndPoint!).Port.ToString(CultureInfo.InvariantCulture);
        var mqtt = FreePort.Next().ToString(CultureInfo.InvariantCulture);

        var result = await GatehouseCommand.RunAsync("serve", "--bind", "127.0.0.1", "--mqtt-port", mqtt, "--ws-port", "0", "--http-port", port);

        GatehouseCommand.AssertOneLineError(result, $"port {port} is already in use (http)");
    }

    [Fact]
    public async Task Two_listeners_on_one_port_are_refused()
    {
        var result = await GatehouseCommand.RunAsync("serve", "--mqtt-port", "18999", "--http-port", "18999");
        GatehouseCommand.AssertOneLineError(result, "--mqtt-port and --http-port are both 18999");
    }

    [Fact]
    public async Task Missing_certificate_file_is_refused()
    {
        var missing = Path.Combine(Path.GetTempPath(), "gatehouse-no-such-cert.pem");
        var result = await GatehouseCommand.RunAsync(Serve("--tls-cert", missing));
        GatehouseCommand.AssertOneLineError(result, $"certificate file not found: {missing}");
    }

    [Fact]
    public async Task Missing_key_file_is_refused()
    {
        var missing = Path.Combine(Path.GetTempPath(), "gatehouse-no-such-key.pem");
        var result = await GatehouseCommand.RunAsync(Serve("--tls-cert", TestCertificate.Shared.CertificatePem, "--tls-key", missing));
        GatehouseCommand.AssertOneLineError(result, $"key file not found: {missing}");
    }

    [Fact]
    public async Task Key_without_certificate_is_refused()
    {
        var result = await GatehouseCommand.RunAsync(Serve("--tls-key", TestCertificate.Shared.KeyPem));
        GatehouseCommand.AssertOneLineError(result, "--tls-key (Server:Tls:Key) is given without --tls-cert");
    }

    [Fact]
    public async Task Certificate_without_private_key_is_refused()
    {
        var result = await GatehouseCommand.RunAsync(Serve("--tls-cert", TestCertificate.Shared.CertificateOnlyPem));
        GatehouseCommand.AssertOneLineError(result, "cannot load certificate");
    }

    [Fact]
    public async Task Wrong_pfx_password_is_refused()
    {
        var result = await GatehouseCommand.RunAsync(
            Serve("--tls-cert", TestCertificate.Shared.Pfx),
            new Dictionary<string, string> { ["GATEHOUSE_Server__Tls__Password"] = "wrong" });
        GatehouseCommand.AssertOneLineError(result, $"cannot load certificate {TestCertificate.Shared.Pfx}");
    }

    [Fact]
    public async Task A_damaged_store_stops_start_up_with_one_line_and_is_left_untouched()
    {
        var dataDir = Directory.CreateTempSubdirectory("gatehouse-damaged-").FullName;
        try
        {
            var database = Path.Combine(dataDir, "gatehouse.db");
            var garbage = Enumerable.Range(0, 8192).Select(i => (byte)(i * 7)).ToArray();
            await File.WriteAllBytesAsync(database, garbage);

            var result = await GatehouseCommand.RunAsync("serve", "--storage", "sqlite", "--data-dir", dataDir,
                "--bind", "127.0.0.1", "--mqtt-port", FreePort.Next().ToString(CultureInfo.InvariantCulture), "--ws-port", "0", "--http-port", "0");

            GatehouseCommand.AssertOneLineError(result, database);
            Assert.Equal(garbage, await File.ReadAllBytesAsync(database));
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task Unknown_storage_is_refused()
    {
        var result = await GatehouseCommand.RunAsync("serve", "--storage", "disk");
        GatehouseCommand.AssertOneLineError(result, "expected one of memory, sqlite");
    }

    [Fact]
    public async Task Invalid_bind_address_is_refused()
    {
        var result = await GatehouseCommand.RunAsync("serve", "--bind", "not-an-address");
        GatehouseCommand.AssertOneLineError(result, "invalid value 'not-an-address' for --bind");
    }

    [Fact]
    public async Task Negative_limit_from_the_environment_is_refused()
    {
        var result = await GatehouseCommand.RunAsync(
            Serve(), new Dictionary<string, string> { ["GATEHOUSE_Broker__MaxQueuedMessages"] = "-1" });
        GatehouseCommand.AssertOneLineError(result, "Broker:MaxQueuedMessages must not be negative, got -1");
    }

    [Fact]
    public async Task Unparsable_value_from_the_environment_is_refused()
    {
        var result = await GatehouseCommand.RunAsync(
            Serve(), new Dictionary<string, string> { ["GATEHOUSE_Broker__QueueQoS0WhenOffline"] = "maybe" });
        GatehouseCommand.AssertOneLineError(result, "invalid value 'maybe' for Broker:QueueQoS0WhenOffline: expected true or false");
    }

    [Fact]
    public async Task Keep_alive_beyond_the_protocol_range_is_refused()
    {
        var result = await GatehouseCommand.RunAsync("serve", "--max-keep-alive", "65536");
        GatehouseCommand.AssertOneLineError(result, "--max-keep-alive (Broker:MaxKeepAliveSeconds): expected a whole number from 0 to 65535");
    }

    [Fact]
    public async Task Packet_size_beyond_what_MQTT_can_encode_is_refused()
    {
        var result = await GatehouseCommand.RunAsync("serve", "--max-packet-size", "268435461");
        GatehouseCommand.AssertOneLineError(result, "--max-packet-size (Broker:MaxPacketSize) must be at most 268435460");
    }

    [Fact]
    public async Task Unknown_broker_setting_on_the_command_line_is_refused()
    {
        var result = await GatehouseCommand.RunAsync(Serve("--Broker:MaxConections=5"));
        GatehouseCommand.AssertOneLineError(result, "unknown setting Broker:MaxConections");
    }

    [Fact]
    public async Task Unknown_flag_is_a_usage_error()
    {
        var result = await GatehouseCommand.RunAsync("serve", "--mqtt-prot", "1883");
        GatehouseCommand.AssertOneLineError(result, "'--mqtt-prot'");
        Assert.Equal(2, result.ExitCode);
    }

    [Fact]
    public async Task Missing_config_file_is_refused()
    {
        var result = await GatehouseCommand.RunAsync("serve", "--config", "/nonexistent/gatehouse.json");
        GatehouseCommand.AssertOneLineError(result, "config file not found: /nonexistent/gatehouse.json");
    }

    [Fact]
    public async Task Malformed_config_file_is_refused()
    {
        var file = Path.Combine(Path.GetTempPath(), $"gatehouse-bad-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, "{ \"Broker\": { \"MaxConnections\": 5 ");
        try
        {
            var result = await GatehouseCommand.RunAsync("serve", "--config", file);
            GatehouseCommand.AssertOneLineError(result, $"cannot read {file}");
        }
        finally
        {
            File.Delete(file);
        }
    }
}
