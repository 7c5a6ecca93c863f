using System.Text;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Security.Tests.Scram;
using Gatehouse.Testing;

namespace Gatehouse.Security.Tests.EndToEnd;

/// <summary>MQTT 5 enhanced authentication (section 4.12) with SCRAM-SHA-256 against the real server process.</summary>
public sealed class ScramEndToEndTests
{
    private const string Method = "SCRAM-SHA-256";

    private static ConnectPacket Connect(string clientId, string method, string clientFirst) => new()
    {
        ProtocolVersion = ProtocolVersion.V500,
        ClientId = clientId,
        CleanStart = true,
        KeepAliveSeconds = 60,
        Properties = new MqttProperties { AuthenticationMethod = method, AuthenticationData = Encoding.UTF8.GetBytes(clientFirst) },
    };

    private static AuthPacket Auth(string method, string data) => new()
    {
        ReasonCode = ReasonCode.ContinueAuthentication,
        Properties = new MqttProperties { AuthenticationMethod = method, AuthenticationData = Encoding.UTF8.GetBytes(data) },
    };

    /// <summary>CONNECT with client-first-message; returns the server-first-message from AUTH 0x18.</summary>
    private static async Task<string> StartAsync(MqttTestClient client, ScramClient scram, string clientId)
    {
        await client.SendAsync(Connect(clientId, Method, scram.ClientFirstMessage()));
        var challenge = await client.ReceiveAsync<AuthPacket>();
        Assert.Equal(ReasonCode.ContinueAuthentication, challenge.ReasonCode);
        Assert.Equal(Method, challenge.Properties!.AuthenticationMethod);
        return Encoding.UTF8.GetString(challenge.Properties.AuthenticationData!.Value.Span);
    }

    [Fact]
    public async Task Right_password_connects_and_the_server_proves_it_knows_the_credential()
    {
        var data = SecureServer.NewDataDirectory();
        await SecureServer.AddIdentityAsync(data, "dev1", "s3cret pw");
        var (exit, shown) = await SecureServer.CliAsync(data, "identities", "show", "dev1");
        Assert.True(exit == 0, shown);
        Assert.Contains($"scram-sha-256: set ({SecureServer.Iterations} iterations)", shown, StringComparison.Ordinal);
        await using var server = await SecureServer.StartAsync(data, "--allow-anonymous", "false");

        await using var client = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500);
        var scram = new ScramClient("dev1", "s3cret pw");
        var serverFirst = await StartAsync(client, scram, "dev1");
        Assert.Contains($",i={SecureServer.Iterations}", serverFirst, StringComparison.Ordinal);
        await client.SendAsync(Auth(Method, scram.ClientFinalMessage(serverFirst)));
        var connAck = await client.ReceiveAsync<ConnAckPacket>();
        Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        Assert.Equal(Method, connAck.Properties!.AuthenticationMethod);
        Assert.True(scram.VerifyServerFinal(Encoding.UTF8.GetString(connAck.Properties.AuthenticationData!.Value.Span)),
            "server signature does not verify");

        // Authenticated as dev1: the session works.
        await client.SubscribeGrantedAsync("dev1/in");
        await client.PublishAsync("dev1/in", "hello");
        Assert.Equal("hello", Encoding.UTF8.GetString((await client.ReceivePublishAsync()).Payload.Span));

        // Re-authentication (AUTH 0x19) is not offered: DISCONNECT 0x8C.
        await client.SendAsync(new AuthPacket
        {
            ReasonCode = ReasonCode.ReAuthenticate,
            Properties = new MqttProperties { AuthenticationMethod = Method, AuthenticationData = Encoding.UTF8.GetBytes(new ScramClient("dev1", "x").ClientFirstMessage()) },
        });
        await client.ExpectDisconnectAndCloseAsync(ReasonCode.BadAuthenticationMethod);
    }

    [Fact]
    public async Task A_connect_waiting_for_its_exchange_keeps_its_own_will_and_properties_while_other_clients_connect()
    {
        // The broker decodes CONNECTs into packets it reuses: one held across the exchange must not be one of them meanwhile.
        var data = SecureServer.NewDataDirectory();
        await SecureServer.AddIdentityAsync(data, "dev1", "s3cret pw");
        await using var server = await SecureServer.StartAsync(data, "--allow-anonymous", "true");
        await using var watcher = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500, "watcher");
        Assert.Equal(ReasonCode.Success, (await watcher.ConnectAsync(new ConnectPacket { ProtocolVersion = ProtocolVersion.V500, ClientId = "watcher", CleanStart = true })).ReasonCode);
        await watcher.SubscribeGrantedAsync("wills/#");

        await using var client = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500);
        var scram = new ScramClient("dev1", "s3cret pw");
        var connect = Connect("dev1", Method, scram.ClientFirstMessage());
        connect.Properties!.RequestResponseInformation = 1;
        connect.Will = new WillMessage { Topic = "wills/dev1", Payload = "dev1 gone"u8.ToArray() };
        await client.SendAsync(connect);
        var serverFirst = Encoding.UTF8.GetString((await client.ReceiveAsync<AuthPacket>()).Properties!.AuthenticationData!.Value.Span);

        for (var i = 0; i < 3; i++)
        {
            await using var other = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500, $"other-{i}");
            var otherConnect = new ConnectPacket
            {
                ProtocolVersion = ProtocolVersion.V500,
                ClientId = $"other-{i}",
                CleanStart = true,
                Will = new WillMessage { Topic = $"wills/other-{i}", Payload = "other gone"u8.ToArray() },
            };
            Assert.Equal(ReasonCode.Success, (await other.ConnectAsync(otherConnect)).ReasonCode);
            await other.DisconnectAsync(); // normal: its will is discarded
        }

        await client.SendAsync(Auth(Method, scram.ClientFinalMessage(serverFirst)));
        var connAck = await client.ReceiveAsync<ConnAckPacket>();
        Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        Assert.Equal("$response/dev1", connAck.Properties!.ResponseInformation);
        await client.AbortAsync();
        var will = await watcher.ReceivePublishAsync();
        Assert.Equal("wills/dev1", will.Topic);
        Assert.Equal("dev1 gone", Encoding.UTF8.GetString(will.Payload.Span));
    }

    [Fact]
    public async Task Wrong_password_nonce_mismatch_unknown_user_and_protocol_errors_are_refused()
    {
        var data = SecureServer.NewDataDirectory();
        await SecureServer.AddIdentityAsync(data, "dev1", "right");
        await using var server = await SecureServer.StartAsync(data, "--allow-anonymous", "false");

        // Wrong password: CONNACK 0x86, then the connection closes [MQTT-4.12.0-4].
        await using (var wrong = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500))
        {
            var scram = new ScramClient("dev1", "wrong");
            var serverFirst = await StartAsync(wrong, scram, "dev1");
            await wrong.SendAsync(Auth(Method, scram.ClientFinalMessage(serverFirst)));
            var refused = await wrong.ReceiveAsync<ConnAckPacket>();
            Assert.Equal(ReasonCode.BadUserNameOrPassword, refused.ReasonCode);
            Assert.Null(refused.Properties?.AuthenticationData);
            await wrong.ExpectCloseAsync();
        }

        // The right password but a nonce other than the server's: refused.
        await using (var replay = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500))
        {
            var scram = new ScramClient("dev1", "right");
            var serverFirst = await StartAsync(replay, scram, "dev1");
            var otherNonce = serverFirst.Split(',')[0][2..] + "x";
            await replay.SendAsync(Auth(Method, scram.ClientFinalMessage(serverFirst, otherNonce)));
            Assert.Equal(ReasonCode.BadUserNameOrPassword, (await replay.ReceiveAsync<ConnAckPacket>()).ReasonCode);
            await replay.ExpectCloseAsync();
        }

        // Unknown user: a challenge like any other, then 0x86.
        await using (var nobody = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500))
        {
            var scram = new ScramClient("nobody", "right");
            var serverFirst = await StartAsync(nobody, scram, "nobody");
            await nobody.SendAsync(Auth(Method, scram.ClientFinalMessage(serverFirst)));
            Assert.Equal(ReasonCode.BadUserNameOrPassword, (await nobody.ReceiveAsync<ConnAckPacket>()).ReasonCode);
        }

        // A method the server does not offer: 0x8C [MQTT-4.12.0-1].
        await using (var unknown = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500))
        {
            var refused = await unknown.ConnectAsync(Connect("dev1", "SCRAM-SHA-1", "n,,n=dev1,r=abc"));
            Assert.Equal(ReasonCode.BadAuthenticationMethod, refused.ReasonCode);
            await unknown.ExpectCloseAsync();
        }

        // Another method in the AUTH than in CONNECT: protocol error.
        await using (var switcher = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500))
        {
            var scram = new ScramClient("dev1", "right");
            var serverFirst = await StartAsync(switcher, scram, "dev1");
            await switcher.SendAsync(Auth("PLAIN", scram.ClientFinalMessage(serverFirst)));
            Assert.Equal(ReasonCode.ProtocolError, (await switcher.ReceiveAsync<ConnAckPacket>()).ReasonCode);
            await switcher.ExpectCloseAsync();
        }

        // Anything but AUTH or DISCONNECT before CONNACK: protocol error [MQTT-4.12.0-5].
        await using (var eager = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500))
        {
            await StartAsync(eager, new ScramClient("dev1", "right"), "dev1");
            await eager.SendAsync(new PingReqPacket());
            Assert.Equal(ReasonCode.ProtocolError, (await eager.ReceiveAsync<ConnAckPacket>()).ReasonCode);
            await eager.ExpectCloseAsync();
        }

        Assert.Contains("invalid SCRAM proof", server.Output, StringComparison.Ordinal);
        Assert.Contains("nonce mismatch", server.Output, StringComparison.Ordinal);
        // Audited like any failed authentication (the audit log writes in batches, so poll).
        var audit = "";
        Assert.True(await Eventually.Until(async () =>
        {
            (_, audit) = await SecureServer.CliAsync(data, "audit", "--kind", "AuthenticationFailed");
            return audit.Contains("SCRAM-SHA-256: invalid SCRAM proof", StringComparison.Ordinal);
        }), audit);
    }
}
