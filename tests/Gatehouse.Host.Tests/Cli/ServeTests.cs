using System.Globalization;
using System.Net;
using Gatehouse.Host.Tests.Infrastructure;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;

namespace Gatehouse.Host.Tests.Cli;

/// <summary><c>gatehouse serve</c> as a process: start-up lines, health endpoint, configuration sources, shutdown.</summary>
public sealed class ServeTests
{
    private static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);

    private static List<string> StdoutStatusLines(ServerProcess server)
        => [.. server.OutputLines
            .Select(l => l.IndexOf("[out] ", StringComparison.Ordinal) is var i and >= 0 ? l[(i + 6)..] : null)
            .OfType<string>()
            .Where(l => l.StartsWith("gatehouse: ", StringComparison.Ordinal))];

    [Fact]
    public async Task Prints_one_line_per_listener_with_its_bound_address_then_ready()
    {
        var certificate = TestCertificate.Shared;
        var wssPort = FreePort.Next();
        await using var server = await ServerProcess.StartAsync(new ServerProcessOptions
        {
            WebSocket = true,
            Http = true,
            Tls = true,
            Arguments = ["--tls-cert", certificate.CertificatePem, "--tls-key", certificate.KeyPem, "--wss-port", Port(wssPort)],
        });

        Assert.Equal(
            [
                $"gatehouse: mqtt listening on 127.0.0.1:{server.MqttPort}",
                $"gatehouse: mqtt-tls listening on 127.0.0.1:{server.TlsPort}",
                $"gatehouse: mqtt-ws listening on 127.0.0.1:{server.WebSocketPort}/mqtt",
                $"gatehouse: mqtt-wss listening on 127.0.0.1:{wssPort}/mqtt",
                $"gatehouse: http listening on 127.0.0.1:{server.HttpPort}",
                "gatehouse: ready",
            ],
            StdoutStatusLines(server));
    }

    [Fact]
    public async Task Port_zero_disables_a_listener_and_tls_listeners_need_a_certificate()
    {
        // ServerProcess passes --ws-port 0 and --http-port 0; --tls-port without --tls-cert opens nothing.
        await using var server = await ServerProcess.StartAsync(new ServerProcessOptions
        {
            Arguments = ["--tls-port", Port(FreePort.Next()), "--wss-port", Port(FreePort.Next())],
        });

        Assert.Equal(
            [$"gatehouse: mqtt listening on 127.0.0.1:{server.MqttPort}", "gatehouse: ready"],
            StdoutStatusLines(server));
    }

    [Fact]
    public async Task Health_endpoint_answers_ok()
    {
        await using var server = await ServerProcess.StartAsync(new ServerProcessOptions { Http = true });
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };

        using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{server.HttpPort}/healthz"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("{\"status\":\"ok\"}", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Mqtt_over_tcp_gets_a_connack()
    {
        await using var server = await ServerProcess.StartAsync();
        await using var v311 = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V311, "host-tcp-311");
        await using var v5 = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V500, "host-tcp-5");
        await v311.PingAsync();
        await v5.PingAsync();
    }

    [Fact]
    public async Task Sigterm_disconnects_v5_clients_with_0x8B_and_exits_0()
    {
        var server = await ServerProcess.StartAsync();
        await using (server)
        {
            await using var v5 = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V500, "host-sigterm-5");
            await using var v311 = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V311, "host-sigterm-311");

            var exitCode = await server.StopAsync(TimeSpan.FromSeconds(20));

            Assert.Equal(0, exitCode);
            await v5.ExpectDisconnectAndCloseAsync(ReasonCode.ServerShuttingDown);
            await v311.ExpectCloseAsync();
            Assert.Contains("gatehouse: stopped", server.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Configuration_precedence_is_appsettings_then_config_file_then_environment_then_command_line()
    {
        var configFile = Path.Combine(Path.GetTempPath(), $"gatehouse-precedence-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(configFile, """
            {
              "Broker": {
                "MaxKeepAliveSeconds": 30,
                "ReceiveMaximum": 11,
                "TopicAliasMaximum": 12,
                "MaxPacketSize": 13000
              }
            }
            """);
        try
        {
            await using var server = await ServerProcess.StartAsync(new ServerProcessOptions
            {
                Arguments = ["--config", configFile, "--Broker:ReceiveMaximum=31", "--Broker:MaxPacketSize", "33000", "--max-packet-size", "44000"],
                Environment = new Dictionary<string, string>
                {
                    ["GATEHOUSE_Broker__ReceiveMaximum"] = "21",
                    ["GATEHOUSE_Broker__TopicAliasMaximum"] = "22",
                    ["GATEHOUSE_Broker__MaxPacketSize"] = "23000",
                },
            });
            await using var client = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500);

            var connAck = await client.ConnectAsync("host-precedence", keepAlive: 120);

            Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
            Assert.Equal((ushort)30, connAck.Properties?.ServerKeepAlive);      // config file (over appsettings.json)
            Assert.Equal((ushort)22, connAck.Properties?.TopicAliasMaximum);    // environment over config file
            Assert.Equal((ushort)31, connAck.Properties?.ReceiveMaximum);       // --Broker:X=value over environment
            Assert.Equal(44000u, connAck.Properties?.MaximumPacketSize);        // dedicated flag over --Broker:X
        }
        finally
        {
            File.Delete(configFile);
        }
    }
}
