using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Authentication;
using Gatehouse.Host.Tests.Infrastructure;
using Gatehouse.Protocol;
using Gatehouse.Testing;

namespace Gatehouse.Host.Tests.Transport;

/// <summary>A server with MQTT over TLS and over secure WebSocket, from a PEM certificate and key.</summary>
public sealed class TlsServer : IAsyncLifetime
{
    private ServerProcess? _server;

    public ServerProcess Server => _server!;

    public int WssPort { get; private set; }

    public async Task InitializeAsync()
    {
        WssPort = FreePort.Next();
        var certificate = TestCertificate.Shared;
        _server = await ServerProcess.StartAsync(new ServerProcessOptions
        {
            Tls = true,
            Arguments =
            [
                "--tls-cert", certificate.CertificatePem, "--tls-key", certificate.KeyPem,
                "--wss-port", WssPort.ToString(CultureInfo.InvariantCulture),
            ],
        });
    }

    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }
}

public sealed class TlsListenerTests(TlsServer fixture) : IClassFixture<TlsServer>
{
    private static async Task<(TcpClient Tcp, SslStream Tls)> HandshakeAsync(int port, SslProtocols protocols = SslProtocols.None, List<SslApplicationProtocol>? alpn = null)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        var tls = new SslStream(tcp.GetStream());
        using var cts = new CancellationTokenSource(MqttWire.Timeout);
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            EnabledSslProtocols = protocols,
            ApplicationProtocols = alpn,
            RemoteCertificateValidationCallback = (_, certificate, _, _) => TestCertificate.Shared.Validate(certificate),
        }, cts.Token);
        return (tcp, tls);
    }

    [Fact]
    public async Task Handshake_presents_the_configured_certificate_over_tls_1_2_or_1_3()
    {
        var (tcp, tls) = await HandshakeAsync(fixture.Server.TlsPort);
        using (tcp)
        await using (tls)
        {
            Assert.True(TestCertificate.Shared.Validate(tls.RemoteCertificate));
            Assert.Contains(tls.SslProtocol, new[] { SslProtocols.Tls12, SslProtocols.Tls13 });
        }
    }

    [Theory]
    [InlineData(SslProtocols.Tls12)]
    [InlineData(SslProtocols.Tls13)]
    public async Task Both_tls_1_2_and_1_3_are_accepted(SslProtocols protocol)
    {
        var (tcp, tls) = await HandshakeAsync(fixture.Server.TlsPort, protocol);
        using (tcp)
        await using (tls)
        {
            Assert.Equal(protocol, tls.SslProtocol);
        }
    }

    [Fact]
    public async Task A_client_offering_alpn_mqtt_is_served_without_alpn()
    {
        var (tcp, tls) = await HandshakeAsync(fixture.Server.TlsPort, alpn: [new SslApplicationProtocol("mqtt")]);
        using (tcp)
        await using (tls)
        {
            Assert.Equal(default, tls.NegotiatedApplicationProtocol);
            await tls.WriteAsync(MqttWire.Connect(ProtocolVersion.V311, "host-tls-alpn"));
            MqttWire.AssertSuccessfulConnAck(await MqttWire.ReadPacketAsync(tls));
        }
    }

    [Theory]
    [InlineData(ProtocolVersion.V311)]
    [InlineData(ProtocolVersion.V500)]
    public async Task Connect_over_tls_gets_a_connack(ProtocolVersion version)
    {
        var (tcp, tls) = await HandshakeAsync(fixture.Server.TlsPort);
        using (tcp)
        await using (tls)
        {
            await tls.WriteAsync(MqttWire.Connect(version, $"host-tls-{version}"));
            MqttWire.AssertSuccessfulConnAck(await MqttWire.ReadPacketAsync(tls));
            await tls.WriteAsync(MqttWire.PingReq);
            MqttWire.AssertPingResp(await MqttWire.ReadPacketAsync(tls));
        }
    }

    [Fact]
    public async Task Connect_over_secure_websocket_gets_a_connack()
    {
        var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("mqtt");
        socket.Options.RemoteCertificateValidationCallback = (_, certificate, _, _) => TestCertificate.Shared.Validate(certificate);
        using var cts = new CancellationTokenSource(MqttWire.Timeout);
        await socket.ConnectAsync(new Uri($"wss://localhost:{fixture.WssPort}/mqtt"), cts.Token);
        using var client = new WebSocketMqttClient(socket);

        Assert.Equal("mqtt", socket.SubProtocol);
        await client.SendFrameAsync(MqttWire.Connect(ProtocolVersion.V500, "host-wss"));
        MqttWire.AssertSuccessfulConnAck(await client.ReceivePacketAsync());
    }
}

/// <summary>Other ways to hand over the certificate: a combined PEM, a PFX with its password from the environment.</summary>
public sealed class TlsCertificateSourceTests
{
    [Fact]
    public async Task Combined_pem_with_certificate_and_key_needs_no_key_flag()
    {
        await using var server = await ServerProcess.StartAsync(new ServerProcessOptions
        {
            Tls = true,
            Arguments = ["--tls-cert", TestCertificate.Shared.CombinedPem],
        });
        await AssertTlsConnectAsync(server.TlsPort);
    }

    [Fact]
    public async Task Pfx_with_password_from_the_environment()
    {
        await using var server = await ServerProcess.StartAsync(new ServerProcessOptions
        {
            Tls = true,
            Arguments = ["--tls-cert", TestCertificate.Shared.Pfx],
            Environment = new Dictionary<string, string> { ["GATEHOUSE_Server__Tls__Password"] = TestCertificate.PfxPassword },
        });
        await AssertTlsConnectAsync(server.TlsPort);
    }

    private static async Task AssertTlsConnectAsync(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, certificate, _, _) => TestCertificate.Shared.Validate(certificate),
        });
        await tls.WriteAsync(MqttWire.Connect(ProtocolVersion.V311, "host-tls-source"));
        MqttWire.AssertSuccessfulConnAck(await MqttWire.ReadPacketAsync(tls));
    }
}
