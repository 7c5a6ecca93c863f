using System.Text;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;

namespace Gatehouse.Security.Tests.EndToEnd;

/// <summary>ACL denials with reason codes, wildcard bypass attempts, ACL reload, and real mosquitto clients (password and mTLS).</summary>
public sealed class AuthorizationEndToEndTests
{
    private static ReadOnlyMemory<byte> Bytes(string text) => Encoding.UTF8.GetBytes(text);

    private static async Task<(ServerProcess Server, string AclPath)> StartWithAclAsync(string acl, params string[] more)
    {
        var data = SecureServer.NewDataDirectory();
        await SecureServer.AddIdentityAsync(data, "alice", "pa");
        await SecureServer.AddIdentityAsync(data, "bob", "pb");
        var aclPath = Path.Combine(data, "acl.conf");
        await File.WriteAllTextAsync(aclPath, acl);
        return (await SecureServer.StartAsync(data, ["--acl-file", aclPath, .. more]), aclPath);
    }

    private static async Task<MqttTestClient> ConnectAsync(ServerProcess server, ProtocolVersion version, string clientId, string user, string password)
    {
        var client = await MqttTestClient.OpenAsync(server.MqttPort, version);
        var ack = await client.ConnectAsync(clientId, userName: user, password: Bytes(password));
        Assert.Equal(ReasonCode.Success, ack.ReasonCode);
        return client;
    }

    private const string Acl = """
        user alice
        topic readwrite alice/#
        topic read sensors/#
        topic deny sensors/secret
        topic write sensors/alice
        user bob
        topic readwrite #
        """;

    [Fact]
    public async Task Denied_publish_gets_0x87_for_v5_qos1_and_goes_nowhere_and_v311_is_disconnected()
    {
        var (server, _) = await StartWithAclAsync(Acl);
        await using var _server = server;
        await using var bob = await ConnectAsync(server, ProtocolVersion.V500, "bob-sub", "bob", "pb");
        await bob.SubscribeGrantedAsync("#", QoS.AtLeastOnce);
        await using var alice = await ConnectAsync(server, ProtocolVersion.V500, "alice-1", "alice", "pa");

        var ack = await alice.PublishAsync("bob/private", "x", QoS.AtLeastOnce);
        Assert.Equal(ReasonCode.NotAuthorized, Assert.IsType<PubAckPacket>(ack).ReasonCode);
        var rec = await alice.PublishAsync("bob/private", "x", QoS.ExactlyOnce);
        Assert.Equal(ReasonCode.NotAuthorized, Assert.IsType<PubRecPacket>(rec).ReasonCode);
        // Retaining needs the retain permission: sensors/alice is write (publish + retain), sensors/x is read only.
        Assert.Equal(ReasonCode.NotAuthorized, Assert.IsType<PubAckPacket>(await alice.PublishAsync("sensors/x", "x", QoS.AtLeastOnce, retain: true)).ReasonCode);
        await bob.ExpectNoPacketAsync(); // the denied messages went nowhere
        await alice.PingAsync();         // and alice is still connected

        await alice.PublishAsync("alice/ok", "fine", QoS.AtLeastOnce);
        Assert.Equal("alice/ok", (await bob.ReceivePublishAsync()).Topic);

        // QoS 0 on 5.0: DISCONNECT 0x87 (the default Security:DenyPublishAction=disconnect).
        await alice.PublishAsync("bob/private", "x");
        await alice.ExpectDisconnectAndCloseAsync(ReasonCode.NotAuthorized);

        // 3.1.1 cannot be told [MQTT-3.3.5-2]: the connection is closed.
        await using var alice311 = await ConnectAsync(server, ProtocolVersion.V311, "alice-2", "alice", "pa");
        await alice311.SendAsync(new PublishPacket { Topic = "bob/private", Payload = Bytes("x"), QoS = QoS.AtLeastOnce, PacketId = 1 });
        await alice311.ExpectCloseAsync();
        Assert.Contains("PublishDenied identity=alice client=alice-1", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deny_publish_action_ignore_acknowledges_v311_without_routing()
    {
        var (server, _) = await StartWithAclAsync(Acl, "--Security:DenyPublishAction=ignore");
        await using var _server = server;
        await using var bob = await ConnectAsync(server, ProtocolVersion.V500, "bob-sub", "bob", "pb");
        await bob.SubscribeGrantedAsync("#", QoS.AtLeastOnce);
        await using var alice = await ConnectAsync(server, ProtocolVersion.V311, "alice-1", "alice", "pa");
        var ack = await alice.PublishAsync("bob/private", "x", QoS.AtLeastOnce);
        Assert.IsType<PubAckPacket>(ack);
        await bob.ExpectNoPacketAsync();
        await alice.PingAsync();
    }

    [Fact]
    public async Task Denied_subscriptions_get_0x87_for_v5_and_0x80_for_v311_including_wildcard_bypass_attempts()
    {
        var (server, _) = await StartWithAclAsync(Acl);
        await using var _server = server;
        await using var v5 = await ConnectAsync(server, ProtocolVersion.V500, "alice-1", "alice", "pa");
        var suback = await v5.SubscribeAsync(
        [
            new TopicSubscription { TopicFilter = "#", MaximumQoS = QoS.AtLeastOnce },
            new TopicSubscription { TopicFilter = "+/secret", MaximumQoS = QoS.AtLeastOnce },
            new TopicSubscription { TopicFilter = "sensors/secret", MaximumQoS = QoS.AtLeastOnce },
            new TopicSubscription { TopicFilter = "$share/g/bob/#", MaximumQoS = QoS.AtLeastOnce },
            new TopicSubscription { TopicFilter = "alice/#", MaximumQoS = QoS.AtLeastOnce },
        ]);
        Assert.Equal([ReasonCode.NotAuthorized, ReasonCode.NotAuthorized, ReasonCode.NotAuthorized, ReasonCode.NotAuthorized, ReasonCode.GrantedQoS1], suback.ReasonCodes);

        await using var v311 = await ConnectAsync(server, ProtocolVersion.V311, "alice-2", "alice", "pa");
        var suback311 = await v311.SubscribeAsync("bob/#", QoS.AtLeastOnce);
        Assert.Equal([ReasonCode.UnspecifiedError], suback311.ReasonCodes); // 0x80 Failure
    }

    [Fact]
    public async Task Granted_wildcard_subscription_does_not_deliver_denied_topics_nor_their_retained_messages()
    {
        var (server, _) = await StartWithAclAsync(Acl);
        await using var _server = server;
        await using var bob = await ConnectAsync(server, ProtocolVersion.V500, "bob-pub", "bob", "pb");
        await bob.PublishAsync("sensors/secret", "retained-secret", QoS.AtLeastOnce, retain: true);
        await bob.PublishAsync("sensors/open", "retained-open", QoS.AtLeastOnce, retain: true);

        await using var alice = await ConnectAsync(server, ProtocolVersion.V500, "alice-1", "alice", "pa");
        await alice.SubscribeGrantedAsync("sensors/#", QoS.AtLeastOnce);
        var retained = await alice.ReceivePublishAsync();
        Assert.Equal("sensors/open", retained.Topic);
        await alice.AckAsync(retained);
        await alice.ExpectNoPacketAsync();

        await bob.PublishAsync("sensors/secret", "live-secret", QoS.AtLeastOnce);
        await bob.PublishAsync("sensors/kitchen", "live-open", QoS.AtLeastOnce);
        var live = await alice.ReceivePublishAsync();
        Assert.Equal("sensors/kitchen", live.Topic);
        await alice.AckAsync(live);
        await alice.ExpectNoPacketAsync();
    }

    [Fact]
    public async Task Acl_file_changes_apply_to_connected_clients_without_reconnecting()
    {
        var (server, aclPath) = await StartWithAclAsync(Acl);
        await using var _server = server;
        await using var bob = await ConnectAsync(server, ProtocolVersion.V500, "bob-pub", "bob", "pb");
        await using var alice = await ConnectAsync(server, ProtocolVersion.V500, "alice-1", "alice", "pa");
        await alice.SubscribeGrantedAsync("sensors/#", QoS.AtLeastOnce);
        Assert.Equal(ReasonCode.NotAuthorized, Assert.IsType<PubAckPacket>(await alice.PublishAsync("news/today", "x", QoS.AtLeastOnce)).ReasonCode);

        var mark = server.OutputLineCount;
        await File.WriteAllTextAsync(aclPath, Acl.Replace("topic read sensors/#", "topic readwrite news/#", StringComparison.Ordinal));
        Assert.True(await server.WaitForOutputAsync("reloaded", TimeSpan.FromSeconds(10), mark), server.Output);

        // Publishing is allowed now; the existing sensors/# subscription no longer delivers.
        Assert.Equal(ReasonCode.NoMatchingSubscribers, Assert.IsType<PubAckPacket>(await alice.PublishAsync("news/today", "x", QoS.AtLeastOnce)).ReasonCode);
        await bob.PublishAsync("sensors/kitchen", "x", QoS.AtLeastOnce);
        await alice.ExpectNoPacketAsync();
    }

    [Fact]
    public async Task Store_rules_from_the_acl_cli_apply_to_groups_and_placeholders()
    {
        var data = SecureServer.NewDataDirectory();
        await SecureServer.AddIdentityAsync(data, "dev1", "pw", "--group", "sensors");
        var (exit, output) = await SecureServer.CliAsync(data, "acl", "add", "--group", "sensors", "--access", "write", "telemetry/%u/#");
        Assert.True(exit == 0, output);
        (exit, var list) = await SecureServer.CliAsync(data, "acl", "list");
        Assert.Equal("1\tgroup:sensors\twrite\ttelemetry/%u/#", list.Trim());
        await using var server = await SecureServer.StartAsync(data);

        await using var dev1 = await ConnectAsync(server, ProtocolVersion.V500, "dev1", "dev1", "pw");
        Assert.Equal(ReasonCode.NoMatchingSubscribers, Assert.IsType<PubAckPacket>(await dev1.PublishAsync("telemetry/dev1/t", "1", QoS.AtLeastOnce)).ReasonCode);
        Assert.Equal(ReasonCode.NotAuthorized, Assert.IsType<PubAckPacket>(await dev1.PublishAsync("telemetry/dev2/t", "1", QoS.AtLeastOnce)).ReasonCode);

        (exit, _) = await SecureServer.CliAsync(data, "acl", "remove", "1");
        Assert.Equal(0, exit);
        // No rules left: everything is allowed again (authentication still applies).
        await Eventually.Assert(async () =>
            Assert.IsType<PubAckPacket>(await dev1.PublishAsync("telemetry/dev2/t", "1", QoS.AtLeastOnce)).ReasonCode == ReasonCode.NoMatchingSubscribers,
            "rule removal picked up");
    }

    [Fact]
    public async Task Mosquitto_clients_with_user_name_and_password()
    {
        if (!SecureServer.HasMosquittoClients) return; // installed by test.sh
        var data = SecureServer.NewDataDirectory();
        await SecureServer.AddIdentityAsync(data, "dev1", "s3cret");
        await using var server = await SecureServer.StartAsync(data, "--allow-anonymous", "false");
        var port = server.MqttPort.ToString(System.Globalization.CultureInfo.InvariantCulture);

        var (ok, okOutput) = await SecureServer.RunAsync("mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-i", "dev1", "-u", "dev1", "-P", "s3cret", "-t", "t", "-m", "x", "-q", "1", "-V", "mqttv5");
        Assert.True(ok == 0, okOutput);
        var (bad5, _) = await SecureServer.RunAsync("mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-i", "dev1", "-u", "dev1", "-P", "nope", "-t", "t", "-m", "x", "-V", "mqttv5");
        Assert.Equal(0x86, bad5);
        var (bad311, bad311Output) = await SecureServer.RunAsync("mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-i", "dev1", "-u", "dev1", "-P", "nope", "-t", "t", "-m", "x", "-V", "mqttv311");
        Assert.Equal(4, bad311);
        Assert.Contains("bad user name or password", bad311Output, StringComparison.OrdinalIgnoreCase);
        var (anonymous, _) = await SecureServer.RunAsync("mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-t", "t", "-m", "x", "-V", "mqttv5");
        Assert.Equal(0x87, anonymous);
    }

    [Fact]
    public async Task Mutual_tls_with_a_generated_ca_maps_the_certificate_to_its_identity_and_refuses_others()
    {
        if (!SecureServer.HasMosquittoClients) return; // installed by test.sh
        var data = SecureServer.NewDataDirectory();
        var pki = TestPki.Create(Path.Combine(data, "pki"));
        await SecureServer.AddIdentityAsync(data, "dev-tls", "unused");
        var aclPath = Path.Combine(data, "acl.conf");
        await File.WriteAllTextAsync(aclPath, "pattern readwrite devices/%u/#\n");
        await using var server = await ServerProcess.StartAsync(new ServerProcessOptions
        {
            DataDirectory = data,
            Tls = true,
            Arguments = ["--tls-cert", pki.ServerCert, "--tls-key", pki.ServerKey, "--tls-client-ca", pki.CaCert, "--acl-file", aclPath, "--allow-anonymous", "false"],
        });
        var port = server.TlsPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
        string[] common = ["-h", "127.0.0.1", "-p", port, "--cafile", pki.CaCert, "-m", "x", "-q", "1", "-V", "mqttv5"];

        var (ok, okOutput) = await SecureServer.RunAsync("mosquitto_pub", [.. common, "--cert", pki.ClientCert, "--key", pki.ClientKey, "-i", "dev-tls", "-t", "devices/dev-tls/up"]);
        Assert.True(ok == 0, okOutput + server.Output);
        var (_, deniedOutput) = await SecureServer.RunAsync("mosquitto_pub", [.. common, "--cert", pki.ClientCert, "--key", pki.ClientKey, "-i", "dev-tls", "-t", "devices/other/up"]);
        Assert.Contains("Not authorized", deniedOutput, StringComparison.Ordinal); // PUBACK 0x87 (mosquitto_pub warns, exits 0)
        var (noCert, _) = await SecureServer.RunAsync("mosquitto_pub", [.. common, "-i", "dev-tls", "-t", "devices/dev-tls/up"]);
        Assert.NotEqual(0, noCert); // handshake fails: a client certificate is required
        var (rogue, _) = await SecureServer.RunAsync("mosquitto_pub", [.. common, "--cert", pki.RogueCert, "--key", pki.RogueKey, "-i", "dev-tls", "-t", "devices/dev-tls/up"]);
        Assert.NotEqual(0, rogue); // issued by another CA

        // Disabling the identity refuses its certificate too.
        var (exit, output) = await SecureServer.CliAsync(data, "identities", "disable", "dev-tls");
        Assert.True(exit == 0, output);
        await Eventually.Assert(async () =>
            (await SecureServer.RunAsync("mosquitto_pub", [.. common, "--cert", pki.ClientCert, "--key", pki.ClientKey, "-i", "dev-tls", "-t", "devices/dev-tls/up"])).ExitCode == 0x87,
            "disabled certificate identity refused with 0x87");
    }

    /// <summary>A CA, a server certificate for 127.0.0.1, a client certificate CN=dev-tls, and a client certificate from another CA.</summary>
    private sealed record TestPki(string CaCert, string ServerCert, string ServerKey, string ClientCert, string ClientKey, string RogueCert, string RogueKey)
    {
        public static TestPki Create(string directory)
        {
            Directory.CreateDirectory(directory);
            using var ca = new TestCa("CN=Gatehouse Test CA");
            using var rogueCa = new TestCa("CN=Rogue CA");
            string Write(string name, string text)
            {
                var path = Path.Combine(directory, name);
                File.WriteAllText(path, text);
                return path;
            }
            var (server, serverCert, serverKey) = ca.Issue("CN=localhost", server: true);
            var (client, clientCert, clientKey) = ca.Issue("CN=dev-tls", server: false);
            var (rogue, rogueCert, rogueKey) = rogueCa.Issue("CN=dev-tls", server: false);
            server.Dispose();
            client.Dispose();
            rogue.Dispose();
            return new TestPki(
                Write("ca.crt", ca.CertificatePem),
                Write("server.crt", serverCert), Write("server.key", serverKey),
                Write("client.crt", clientCert), Write("client.key", clientKey),
                Write("rogue.crt", rogueCert), Write("rogue.key", rogueKey));
        }
    }
}
