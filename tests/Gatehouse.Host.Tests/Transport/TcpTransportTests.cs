using System.Buffers.Binary;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Gatehouse.Host.Tests.Infrastructure;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;

namespace Gatehouse.Host.Tests.Transport;

/// <summary>
/// The plain-TCP listener on both transports (<c>Server:TcpTransport</c>): Gatehouse's own sockets (the default) and
/// Kestrel's. What a transport can get wrong: packets split across receives or spanning many, input and output larger
/// than its buffers, a reader that stops reading while the broker writes, a peer that resets mid-stream.
/// </summary>
public sealed class TcpTransportTests
{
    /// <summary>The own transport with its I/O threads polling after work (the default) and sleeping at once; Kestrel.</summary>
    public static TheoryData<string> Transports => new() { "sockets", "sockets-no-idle-poll", "kestrel" };

    private static string[] TransportArguments(string transport) => transport == "sockets-no-idle-poll"
        ? ["--Server:TcpTransport=sockets", "--Server:IdlePollMicroseconds=0"]
        : [$"--Server:TcpTransport={transport}"];

    private static Task<ServerProcess> StartAsync(string transport)
        => ServerProcess.StartAsync(new ServerProcessOptions { Arguments = TransportArguments(transport) });

    /// <summary>
    /// A raw 3.1.1 subscriber (QoS 0) whose socket has a small receive buffer and reads only when the test does, so the
    /// broker's writes to it back up.
    /// </summary>
    private static async Task<TcpClient> SubscribeRawAsync(int port, string clientId, string filter)
    {
        var client = new TcpClient { ReceiveBufferSize = 4096, NoDelay = true };
        try
        {
            await client.ConnectAsync("127.0.0.1", port);
            var stream = client.GetStream();
            await stream.WriteAsync(MqttWire.Connect(ProtocolVersion.V311, clientId));
            MqttWire.AssertSuccessfulConnAck(await MqttWire.ReadPacketAsync(stream));
            await stream.WriteAsync(MqttTestClient.Encode(new SubscribePacket
            {
                PacketId = 1, Subscriptions = [new TopicSubscription { TopicFilter = filter, MaximumQoS = QoS.AtMostOnce }],
            }, ProtocolVersion.V311));
            Assert.Equal(0x90, (await MqttWire.ReadPacketAsync(stream))[0]);
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Each_connection_is_known_by_its_own_remote_address_and_port(string transport)
    {
        // Connections from one address share its IPAddress in the sockets transport; each must still be reported with
        // its own port, and one from another address with that address (127.0.0.2 is loopback too on Linux).
        await using var server = await ServerProcess.StartAsync(new ServerProcessOptions
        {
            Arguments = [.. TransportArguments(transport), "--Logging:LogLevel:Gatehouse.Channel=Debug"],
        });
        var clients = new List<(string Id, TcpClient Client)>();
        try
        {
            foreach (var (id, source) in new[] { ("ep-a", "127.0.0.1"), ("ep-b", "127.0.0.1"), ("ep-c", "127.0.0.2"), ("ep-d", "127.0.0.1") })
            {
                var client = new TcpClient(new IPEndPoint(IPAddress.Parse(source), 0)) { NoDelay = true };
                clients.Add((id, client));
                await client.ConnectAsync(IPAddress.Loopback, server.MqttPort);
                await client.GetStream().WriteAsync(MqttWire.Connect(ProtocolVersion.V311, id));
                MqttWire.AssertSuccessfulConnAck(await MqttWire.ReadPacketAsync(client.GetStream()));
            }
            foreach (var (id, client) in clients)
            {
                var from = (IPEndPoint)client.Client.LocalEndPoint!;
                await Eventually.Assert(() => server.Output.Contains($"Client {id} connected from {from.Address}:{from.Port} ", StringComparison.Ordinal),
                    $"the log names {id}'s endpoint {from}");
            }
        }
        finally
        {
            foreach (var (_, client) in clients) client.Dispose();
        }
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_publish_larger_than_every_buffer_arrives_whole(string transport)
    {
        await using var server = await StartAsync(transport);
        await using var subscriber = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V500, "big-sub");
        await subscriber.SubscribeGrantedAsync("big/#", QoS.AtLeastOnce);
        await using var publisher = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V500, "big-pub");

        // Just under the default Maximum Packet Size (1 MiB): many receives in, one growing write buffer out.
        var payload = new byte[1_000_000];
        Random.Shared.NextBytes(payload);
        var ack = await publisher.PublishAsync("big/one", payload, QoS.AtLeastOnce);
        Assert.Equal(ReasonCode.Success, ack!.ReasonCode);

        var received = await subscriber.ReceivePublishAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("big/one", received.Topic);
        Assert.True(payload.AsSpan().SequenceEqual(received.Payload.Span), "payload differs");
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Packets_sent_a_byte_at_a_time_are_reassembled(string transport)
    {
        await using var server = await StartAsync(transport);
        await using var subscriber = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V311, "bytes-sub");
        await subscriber.SubscribeGrantedAsync("bytes/#", QoS.AtLeastOnce);

        await using var publisher = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V311, "bytes-pub");
        var connect = MqttWire.Connect(ProtocolVersion.V311, "bytes-pub");
        var publish = MqttTestClient.Encode(new PublishPacket
        {
            Topic = "bytes/x", Payload = "split into single bytes"u8.ToArray(), QoS = QoS.AtLeastOnce, PacketId = 7,
        }, ProtocolVersion.V311);
        await publisher.SendInChunksAsync([.. connect, .. publish], chunkSize: 1);

        Assert.IsType<ConnAckPacket>(await publisher.ReceiveAsync());
        Assert.Equal(7, (await publisher.ReceiveAsync<PubAckPacket>()).PacketId);
        var received = await subscriber.ReceivePublishAsync();
        Assert.Equal("split into single bytes", System.Text.Encoding.UTF8.GetString(received.Payload.Span));
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_subscriber_that_stops_reading_gets_every_message_in_order_when_it_reads_again(string transport)
    {
        await using var server = await StartAsync(transport);
        // A raw socket with a small receive buffer that reads nothing for a while: the broker's writes back up into its
        // socket's send buffer and then wait for it to drain.
        using var subscriber = await SubscribeRawAsync(server.MqttPort, "stalled-sub", "stall/#");
        var stream = subscriber.GetStream();

        // 16 MB: more than the socket's send buffer grows to, so the broker's writes wait for it to drain many times.
        const int Messages = 8_000;
        const int PayloadSize = 2_048;
        await using (var publisher = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V311, "stall-pub"))
        {
            var payload = new byte[PayloadSize];
            for (var i = 0; i < Messages; i++)
            {
                BinaryPrimitives.WriteInt32BigEndian(payload, i);
                await publisher.PublishAsync("stall/x", payload);
            }
            // QoS 1 round trip: every QoS 0 message before it has been routed to the stalled subscriber.
            await publisher.PublishAsync("other", "fence", QoS.AtLeastOnce);
        }
        await Task.Delay(500);

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var buffer = new byte[64 * 1024];
        var pending = new List<byte>();
        var next = 0;
        while (next < Messages)
        {
            var read = await stream.ReadAsync(buffer, cts.Token);
            Assert.True(read > 0, $"connection closed after {next} messages");
            pending.AddRange(buffer.AsSpan(0, read));
            int length;
            while ((length = MqttWire.CompletePacketLength(pending.ToArray())) > 0)
            {
                var packet = pending.GetRange(0, length).ToArray();
                pending.RemoveRange(0, length);
                Assert.Equal(0x30, packet[0]);
                var payloadStart = length - PayloadSize;
                Assert.Equal(next, BinaryPrimitives.ReadInt32BigEndian(packet.AsSpan(payloadStart)));
                next++;
            }
        }
        Assert.Equal(Messages, next);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_connection_closed_while_its_peer_reads_nothing_ends_after_a_grace_period(string transport)
    {
        await using var server = await ServerProcess.StartAsync(new ServerProcessOptions
        {
            Arguments = [.. TransportArguments(transport), "--Broker:SysIntervalSeconds=1"],
        });
        await using var observer = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V311, "unread-observer");
        await observer.SubscribeGrantedAsync("$SYS/broker/connections/current");
        // Never reads again: the broker's writes to it back up and its writer waits for the socket to drain.
        using var stalled = await SubscribeRawAsync(server.MqttPort, "unread-sub", "unread/#");
        await using (var publisher = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V311, "unread-pub"))
        {
            var payload = new byte[64 * 1024];
            for (var i = 0; i < 300; i++) await publisher.PublishAsync("unread/x", payload);
            await publisher.PublishAsync("other", "fence", QoS.AtLeastOnce);
        }

        // A takeover closes the stalled connection; it must end (and free its socket) although its peer never reads.
        await using var successor = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V311, "unread-sub");
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        string? current = null;
        try
        {
            while (current != "2")
            {
                // The observer and the successor.
                var report = await observer.ReceivePublishAsync(TimeSpan.FromSeconds(20)).WaitAsync(deadline.Token);
                current = System.Text.Encoding.UTF8.GetString(report.Payload.Span);
            }
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"$SYS/broker/connections/current still {current} after 20 s: the stalled connection was never closed");
        }
        Assert.False(server.HasExited);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_peer_that_resets_in_the_middle_of_a_packet_leaves_the_broker_serving_others(string transport)
    {
        // One I/O thread on one core, as bench/run pins the broker: there the packet's first bytes and the reset reach the
        // reader in the order that had it hand back the same unfinished bytes forever, spinning on its I/O thread.
        await using var server = await ServerProcess.StartAsync(new ServerProcessOptions
        {
            Arguments = TransportArguments(transport),
            Environment = new Dictionary<string, string> { ["DOTNET_PROCESSOR_COUNT"] = "1" },
            OneCore = true,
        });
        for (var i = 0; i < 3; i++)
        {
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await client.ConnectAsync(IPAddress.Loopback, server.MqttPort);
            using (var stream = new NetworkStream(client, ownsSocket: false))
            {
                await stream.WriteAsync(MqttWire.Connect(ProtocolVersion.V311, $"half-{i}"));
                MqttWire.AssertSuccessfulConnAck(await MqttWire.ReadPacketAsync(stream));
            }
            // The first bytes of a PUBLISH announcing 127 bytes, then RST: the broker holds part of a packet that never
            // completes when the socket fails.
            client.Send([0x30, 0x7F, 0x00]);
            client.LingerState = new LingerOption(true, 0);
            client.Close();
        }

        await using var probe = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V500, "after-half");
        await probe.SubscribeGrantedAsync("half/#", QoS.AtLeastOnce);
        await using var publisher = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V311, "half-pub");
        Assert.NotNull(await publisher.PublishAsync("half/y", "still serving", QoS.AtLeastOnce));
        Assert.Equal("still serving", System.Text.Encoding.UTF8.GetString((await probe.ReceivePublishAsync()).Payload.Span));
        Assert.False(server.HasExited);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_peer_that_resets_while_the_broker_writes_to_it_leaves_the_broker_serving_others(string transport)
    {
        await using var server = await StartAsync(transport);
        var reset = await SubscribeRawAsync(server.MqttPort, "reset-sub", "reset/#");

        await using var publisher = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V311, "reset-pub");
        var payload = new byte[8_192];
        for (var i = 0; i < 200; i++) await publisher.PublishAsync("reset/x", payload);
        // RST instead of FIN, with the broker's writes still in flight.
        reset.Client.LingerState = new LingerOption(true, 0);
        reset.Dispose();
        for (var i = 0; i < 200; i++) await publisher.PublishAsync("reset/x", payload);

        await using var probe = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V500, "after-reset");
        await probe.SubscribeGrantedAsync("after/#", QoS.AtLeastOnce);
        var ack = await publisher.PublishAsync("after/y", "still serving", QoS.AtLeastOnce);
        Assert.NotNull(ack);
        Assert.Equal("still serving", System.Text.Encoding.UTF8.GetString((await probe.ReceivePublishAsync()).Payload.Span));
        Assert.False(server.HasExited);
    }

    /// <summary>
    /// Anonymous clients are let in only when both ends of their connection are loopback addresses, so the transport must
    /// report the address a connection really arrived on, not the wildcard address the listener is bound to.
    /// </summary>
    [Theory]
    [MemberData(nameof(Transports))]
    public async Task On_a_wildcard_listener_a_loopback_client_is_local_and_a_client_on_another_address_is_not(string transport)
    {
        await using var server = await ServerProcess.StartAsync(new ServerProcessOptions
        {
            Bind = "::", Arguments = TransportArguments(transport),
        });

        // IPv4 reaches the dual-mode listener as an IPv4-mapped address.
        foreach (var (host, clientId) in new[] { ("127.0.0.1", "local-v4"), ("::1", "local-v6") })
        {
            await using var local = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500, clientId, host);
            Assert.Equal(ReasonCode.Success, (await local.ConnectAsync(clientId)).ReasonCode);
        }

        if (NonLoopbackAddress() is { } address)
        {
            await using var remote = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500, "remote", address.ToString());
            Assert.NotEqual(ReasonCode.Success, (await remote.ConnectAsync("remote")).ReasonCode);
        }
    }

    /// <summary>An address of this machine that is not loopback (connecting to it comes from it too); null when there is none.</summary>
    private static IPAddress? NonLoopbackAddress() => NetworkInterface.GetAllNetworkInterfaces()
        .Where(nic => nic.OperationalStatus == OperationalStatus.Up && nic.NetworkInterfaceType != NetworkInterfaceType.Loopback)
        .SelectMany(nic => nic.GetIPProperties().UnicastAddresses)
        .Select(unicast => unicast.Address)
        .FirstOrDefault(address => address.AddressFamily == AddressFamily.InterNetwork);
}
