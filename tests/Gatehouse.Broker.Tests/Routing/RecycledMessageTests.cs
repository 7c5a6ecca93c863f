using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Gatehouse.Broker.Tests.InProcess;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;

namespace Gatehouse.Broker.Tests.Routing;

/// <summary>
/// The broker reuses a QoS 0 PUBLISH's packet, payload buffer, message and deliveries once nothing holds them
/// (<see cref="Gatehouse.Broker.Routing.RecycledMessages"/>). A holder the recycling missed would be sent another
/// message's bytes, so these tests push thousands of distinct payloads through real connections, with subscribers of
/// every kind (3.1.1, 5.0, 5.0 taking Topic Aliases, 5.0 with a Subscription Identifier, a shared subscription), and
/// check every byte each one gets; and they check that messages something kept (a retained message, a session's
/// offline queue, a PUBLISH with properties) still carry their own payload after thousands of others went through.
/// </summary>
public sealed class RecycledMessageTests
{
    private const int Messages = 3000;

    [Theory]
    [InlineData(ProtocolVersion.V311)]
    [InlineData(ProtocolVersion.V500)]
    public async Task Every_subscriber_gets_every_payload_intact_while_packets_are_reused(ProtocolVersion publisherVersion)
    {
        await using var broker = await InProcessBroker.StartAsync();
        var port = broker.Port;
        var v311 = await MqttTestClient.ConnectNewAsync(port, ProtocolVersion.V311, "v311");
        var v5 = await MqttTestClient.ConnectNewAsync(port, ProtocolVersion.V500, "v5");
        var aliases = await MqttTestClient.ConnectNewAsync(port, ProtocolVersion.V500, "aliases",
            properties: new MqttProperties { TopicAliasMaximum = 5 });
        var identified = await MqttTestClient.ConnectNewAsync(port, ProtocolVersion.V500, "identified");
        var shared = await MqttTestClient.ConnectNewAsync(port, ProtocolVersion.V500, "shared");
        MqttTestClient[] subscribers = [v311, v5, aliases, identified, shared];
        // Plain subscribers of every message; the other kinds only of the "mixed" ones, which are then kept (a PUBLISH is
        // built for them) while the "plain" ones are sent as the arrived packet, reused message after message.
        await v311.SubscribeGrantedAsync("load/#");
        await v5.SubscribeGrantedAsync("load/#");
        await aliases.SubscribeGrantedAsync("load/mixed/#");
        await identified.SubscribeGrantedAsync("load/mixed/+", properties: new MqttProperties { SubscriptionIdentifiers = [7] });
        await shared.SubscribeGrantedAsync("$share/group/load/mixed/#");
        await using var publisher = await MqttTestClient.ConnectNewAsync(port, publisherVersion, "publisher");

        // Payloads from 4 bytes to past the largest buffer a pooled packet keeps (1 KB), so buffers are reused, regrown
        // and given up; two "mixed" topics, so a Topic Alias subscriber gets both new and aliased topics.
        var sending = Task.Run(async () =>
        {
            for (var i = 0; i < Messages; i++) await publisher.PublishAsync(TopicOf(i), PayloadOf(i));
        });
        var receiving = new[]
        {
            ReceiveAllAsync(v311), ReceiveAllAsync(v5), ReceiveAllAsync(aliases, IsMixed), ReceiveAllAsync(identified, IsMixed),
            ReceiveAllAsync(shared, IsMixed),
        };
        await sending;
        await Task.WhenAll(receiving);
        foreach (var subscriber in subscribers) await subscriber.DisposeAsync();
    }

    [Fact]
    public async Task A_retained_QoS0_message_keeps_its_payload_while_others_reuse_packets()
    {
        // The watcher keeps the Retain flag (Retain As Published), so its delivery is sent as the arrived packet itself.
        await using var broker = await InProcessBroker.StartAsync();
        await using var watcher = await MqttTestClient.ConnectNewAsync(broker.Port, ProtocolVersion.V500, "watcher");
        await watcher.SubscribeGrantedAsync("#", retainAsPublished: true);
        await using var publisher = await MqttTestClient.ConnectNewAsync(broker.Port, ProtocolVersion.V311, "publisher");
        var retained = PayloadOf(123_456);
        await publisher.PublishAsync("status/device", retained, retain: true);
        Assert.Equal(retained, (await watcher.ReceivePublishAsync()).Payload.ToArray());

        await FloodAsync(publisher, watcher);

        await using var late = await MqttTestClient.ConnectNewAsync(broker.Port, ProtocolVersion.V311, "late");
        await late.SubscribeGrantedAsync("status/device");
        Assert.Equal(retained, (await late.ReceivePublishAsync()).Payload.ToArray());
    }

    [Fact]
    public async Task A_QoS0_message_queued_for_an_offline_session_keeps_its_payload_while_others_reuse_packets()
    {
        await using var broker = await InProcessBroker.StartAsync(new BrokerOptions { QueueQoS0WhenOffline = true });
        await broker.SubscribeOfflineAsync("sleeper", "commands/sleeper", QoS.AtMostOnce, new MqttProperties { SessionExpiryInterval = 600 });
        await using var watcher = await MqttTestClient.ConnectNewAsync(broker.Port, ProtocolVersion.V311, "watcher");
        await watcher.SubscribeGrantedAsync("#");
        await using var publisher = await MqttTestClient.ConnectNewAsync(broker.Port, ProtocolVersion.V311, "publisher");
        var queued = PayloadOf(654_321);
        await publisher.PublishAsync("commands/sleeper", queued);
        Assert.Equal(queued, (await watcher.ReceivePublishAsync()).Payload.ToArray());

        await FloodAsync(publisher, watcher);

        await using var sleeper = await MqttTestClient.ConnectNewAsync(broker.Port, ProtocolVersion.V500, "sleeper", cleanStart: false,
            properties: new MqttProperties { SessionExpiryInterval = 600 });
        Assert.Equal(queued, (await sleeper.ReceivePublishAsync()).Payload.ToArray());
    }

    [Fact]
    public async Task A_message_whose_5_0_form_is_built_apart_keeps_its_payload_for_a_subscriber_that_is_behind()
    {
        // A 5.0 PUBLISH with properties goes to 5.0 subscribers as a packet built from the message, not as the packet it
        // arrived in, and that built packet shares the arrived one's payload buffer: the arrived packet must not be reused
        // while the built one waits in a subscriber's queue. The subscriber here reads nothing (a raw socket with a small
        // receive buffer) until another publisher's flood, whose packets are reused, is through.
        await using var broker = await InProcessBroker.StartAsync();
        using var slow = await RawSubscriber.ConnectAsync(broker.Port, "slow", "with-properties/#");
        await using var watcher = await MqttTestClient.ConnectNewAsync(broker.Port, ProtocolVersion.V311, "watcher");
        await watcher.SubscribeGrantedAsync("load/#");
        await using (var behind = await MqttTestClient.ConnectNewAsync(broker.Port, ProtocolVersion.V500, "behind-publisher"))
        {
            var properties = new MqttProperties { ContentType = "application/octet-stream" };
            for (var i = 0; i < Messages; i++) await behind.PublishAsync("with-properties/x", SmallPayloadOf(i), properties: properties);
            await behind.DisconnectAsync();
        }
        await using var publisher = await MqttTestClient.ConnectNewAsync(broker.Port, ProtocolVersion.V311, "publisher");

        await FloodAsync(publisher, watcher);

        for (var i = 0; i < Messages; i++)
        {
            var publish = await slow.ReceivePublishAsync();
            if (!publish.Payload.Span.SequenceEqual(SmallPayloadOf(i))) Assert.Fail($"slow: message {i} has the wrong payload");
            Assert.Equal("application/octet-stream", publish.Properties?.ContentType);
        }
    }

    /// <summary>Thousands of QoS 0 messages through <paramref name="watcher"/>, each one's packet reused by the next.</summary>
    private static async Task FloodAsync(MqttTestClient publisher, MqttTestClient watcher)
    {
        var receiving = ReceiveAllAsync(watcher);
        for (var i = 0; i < Messages; i++) await publisher.PublishAsync(TopicOf(i), PayloadOf(i));
        await receiving;
    }

    /// <summary>
    /// Receives the messages of the <see cref="Messages"/> sent that <paramref name="matches"/> (all by default) and checks
    /// each payload, in order (one publisher).
    /// </summary>
    private static async Task ReceiveAllAsync(MqttTestClient subscriber, Func<int, bool>? matches = null)
    {
        for (var i = 0; i < Messages; i++)
        {
            if (matches?.Invoke(i) == false) continue;
            var publish = await subscriber.ReceivePublishAsync(TimeSpan.FromSeconds(10));
            var expected = PayloadOf(i);
            if (!publish.Payload.Span.SequenceEqual(expected))
            {
                Assert.Fail($"{subscriber.Name}: message {i} has the wrong payload ({publish.Payload.Length} bytes, "
                    + $"numbered {(publish.Payload.Length >= 4 ? BinaryPrimitives.ReadInt32BigEndian(publish.Payload.Span) : -1)})");
            }
        }
    }

    /// <summary>Payloads a pooled packet's buffer keeps (up to 1 KB), so a wrongly reused one would be overwritten.</summary>
    private static byte[] SmallPayloadOf(int i)
    {
        var payload = PayloadOf(i);
        return payload.Length <= 1000 ? payload : payload[..1000];
    }

    private static string TopicOf(int i) => (i % 4) switch { 0 => "load/mixed/a", 1 => "load/mixed/b", 2 => "load/plain/c", _ => "load/plain/d" };

    private static bool IsMixed(int i) => i % 4 < 2;

    /// <summary>Message <paramref name="i"/>'s payload: its number, then bytes derived from it; 4 to 1,500 bytes long.</summary>
    private static byte[] PayloadOf(int i)
    {
        var payload = new byte[4 + (i * 37 % 1497)];
        BinaryPrimitives.WriteInt32BigEndian(payload, i);
        for (var j = 4; j < payload.Length; j++) payload[j] = (byte)(i * 31 + j);
        return payload;
    }

    /// <summary>A 5.0 subscriber on a plain socket that reads only when asked, behind a small receive buffer.</summary>
    private sealed class RawSubscriber : IDisposable
    {
        private readonly Socket _socket;
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        private RawSubscriber(Socket socket) => _socket = socket;

        public static async Task<RawSubscriber> ConnectAsync(int port, string clientId, string filter)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096, NoDelay = true };
            var subscriber = new RawSubscriber(socket);
            await socket.ConnectAsync(IPAddress.Loopback, port);
            await socket.SendAsync(MqttTestClient.Encode(new ConnectPacket { ClientId = clientId, CleanStart = true }, ProtocolVersion.V500));
            Assert.Equal(ReasonCode.Success, Assert.IsType<ConnAckPacket>(await subscriber.ReceiveAsync()).ReasonCode);
            await socket.SendAsync(MqttTestClient.Encode(
                new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription { TopicFilter = filter }] }, ProtocolVersion.V500));
            Assert.IsType<SubAckPacket>(await subscriber.ReceiveAsync());
            return subscriber;
        }

        public async Task<PublishPacket> ReceivePublishAsync() => Assert.IsType<PublishPacket>(await ReceiveAsync());

        private async Task<MqttPacket> ReceiveAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            while (true)
            {
                var pending = new ReadOnlySequence<byte>(_buffer, _start, _end - _start);
                if (PacketReader.TryRead(ref pending, ProtocolVersion.V500, uint.MaxValue, out var packet))
                {
                    _start = _end - (int)pending.Length;
                    return packet!;
                }
                if (_start > 0)
                {
                    Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                    _end -= _start;
                    _start = 0;
                }
                var read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, timeout.Token);
                if (read == 0) throw new MqttTestException("the broker closed the connection");
                _end += read;
            }
        }

        public void Dispose() => _socket.Dispose();
    }
}
