using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.BlackBox;

/// <summary>
/// Publishers slowed to a slow subscriber's pace instead of its messages being dropped: QoS 0 backpressure (the
/// publisher's connection is not read while a subscriber has more than BackpressureHighWaterBytes waiting), bounded
/// by BackpressureTimeoutMs for a subscriber that stopped reading; and queue limits large enough by default for an
/// offline backlog of 100,000 messages.
/// </summary>
public sealed class BackpressureTests(ITestOutputHelper output) : BlackBoxTest(null, output)
{
    private const int PayloadSize = 1024;

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task AQoS0PublisherFasterThanItsSubscriber_IsSlowedDown_AndNoMessageIsDropped(ProtocolVersion version)
    {
        // The hard limit (1 MiB waiting for the subscriber) is far below what the publisher sends while the subscriber
        // does not read: without backpressure all but about 1 MiB of it (plus the sockets' buffers) would be dropped.
        var server = await StartServerAsync("--Broker:MaxQueuedBytes=1048576", "--Broker:BackpressureHighWaterBytes=65536",
            "--Broker:BackpressureTimeoutMs=60000");
        var topic = NewTopic();
        using var subscriber = await RawSubscriber.ConnectAsync(server.MqttPort, version, NewClientId("slow"), topic);
        var publisher = await ConnectAsync(version, server: server);

        const int count = 32 * 1024; // 32 MiB of payload
        var publishing = Task.Run(async () =>
        {
            for (var i = 0; i < count; i++) await publisher.SendAsync(Numbered(topic, i));
        });
        // The subscriber reads nothing for a while: the publisher must end up blocked, not its messages dropped.
        await Task.Delay(1500);
        Assert.False(publishing.IsCompleted, "the publisher was never slowed down (its messages were taken and dropped)");

        var received = await subscriber.ReadNumberedAsync(count, TimeSpan.FromSeconds(60));
        await publishing;
        Assert.Equal(Enumerable.Range(0, count), received);
        await publisher.PingAsync();
    }

    [Fact]
    public async Task ASubscriberThatStopsReading_DelaysItsPublishersForOneTimeoutOnly()
    {
        // One client that stops reading must not throttle everyone who publishes to it: after BackpressureTimeoutMs it
        // counts as stalled, its QoS 0 messages are dropped at the hard limit, and the others get everything. The healthy
        // subscriber reads in this test process: the timeout (2 s) is long enough that a pause of the loaded process
        // cannot make it look stalled too (and lose messages at the hard limit), as 300 ms could.
        var server = await StartServerAsync("--Broker:MaxQueuedBytes=1048576", "--Broker:BackpressureHighWaterBytes=65536",
            "--Broker:BackpressureTimeoutMs=2000", "--Broker:SysIntervalSeconds=1");
        var topic = NewTopic();
        using var stalled = await RawSubscriber.ConnectAsync(server.MqttPort, ProtocolVersion.V500, NewClientId("stalled"), topic);
        using var healthy = await RawSubscriber.ConnectAsync(server.MqttPort, ProtocolVersion.V500, NewClientId("healthy"), topic);
        var publisher = await ConnectAsync(ProtocolVersion.V500, server: server);

        // Waiting 2 s per message for the stalled client would take hours; one wait takes 2 s.
        const int count = 16 * 1024;
        var reading = healthy.ReadNumberedAsync(count, TimeSpan.FromSeconds(60));
        for (var i = 0; i < count; i++) await publisher.SendAsync(Numbered(topic, i));
        Assert.Equal(Enumerable.Range(0, count), await reading);
        await publisher.PingAsync();

        // Reported: a log line naming the client, and the $SYS counters.
        Assert.Contains("stalled client", server.Output, StringComparison.Ordinal);
        var watcher = await ConnectAsync(ProtocolVersion.V500, server: server);
        await watcher.SubscribeGrantedAsync("$SYS/broker/backpressure/#");
        var counters = new Dictionary<string, long>();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!(counters.GetValueOrDefault("$SYS/broker/backpressure/stalled") >= 1 && counters.GetValueOrDefault("$SYS/broker/backpressure/episodes") >= 1))
        {
            var update = await watcher.ReceivePublishAsync(TimeSpan.FromSeconds(5));
            counters[update.Topic] = long.Parse(Text(update.Payload), System.Globalization.CultureInfo.InvariantCulture);
            Assert.False(deadline.IsCancellationRequested, $"$SYS counters: {string.Join(", ", counters)}");
        }
    }

    [Fact]
    public async Task APublisherHeldBackLongerThanItsKeepAlive_IsNotDisconnectedForIt()
    {
        // While the broker does not read a publisher (backpressure, here 6 s until the subscriber counts as stalled), what
        // the publisher sends waits in the socket: its keep-alive (2 s, so 3 s without a packet) must not run out. The hold
        // is twice that; and 3 s (not 1.5 s) is more than a pause of the loaded test process between its sends can last.
        var server = await StartServerAsync("--Broker:MaxQueuedBytes=1048576", "--Broker:BackpressureHighWaterBytes=65536",
            "--Broker:BackpressureTimeoutMs=6000");
        var topic = NewTopic();
        using var stalled = await RawSubscriber.ConnectAsync(server.MqttPort, ProtocolVersion.V500, NewClientId("stalled"), topic);
        var publisher = await ConnectAsync(ProtocolVersion.V500, keepAlive: 2, server: server);

        const int count = 16 * 1024;
        await Task.Run(async () =>
        {
            for (var i = 0; i < count; i++) await publisher.SendAsync(Numbered(topic, i));
        }).WaitAsync(TimeSpan.FromSeconds(60));
        await publisher.PingAsync();
        Assert.Contains("stalled client", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ASlowSubscriberThatKeepsTakingMessages_HoldsThePublisherBeyondTheTimeout()
    {
        // The timeout is for clients that take nothing: one that acknowledges a message every 100 ms is slow, not
        // stalled, and keeps pacing its publisher for as long as it stays above the low-water mark (6 messages). The
        // timeout (1 s) is ten of the reader's steps, so a loaded test machine pausing the reader cannot pass for a stall.
        const int count = 32, highWater = 12;
        var server = await StartServerAsync("--Broker:MaxInflightMessages=1", $"--Broker:BackpressureHighWaterMessages={highWater}",
            "--Broker:BackpressureTimeoutMs=1000");
        var topic = NewTopic();
        var subscriber = await ConnectAsync(ProtocolVersion.V500, server: server);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        var publisher = await ConnectAsync(ProtocolVersion.V500, server: server);

        // m0 goes out, m1..m31 queue; from m12 on (12 queued) the acknowledgements are held, in order.
        for (var i = 0; i < count; i++) await publisher.SendAsync(Numbered(topic, i, QoS.AtLeastOnce, (ushort)(i + 1), payloadSize: 8));
        for (var i = 0; i < highWater; i++) Assert.Equal((ushort)(i + 1), (await publisher.ReceiveAsync<PubAckPacket>()).PacketId);
        var slowReader = Task.Run(async () =>
        {
            var numbers = new List<int>();
            for (var i = 0; i < count; i++)
            {
                var publish = await subscriber.ReceivePublishAsync();
                numbers.Add(BinaryPrimitives.ReadInt32BigEndian(publish.Payload.Span));
                await Task.Delay(100);
                await subscriber.AckAsync(publish);
            }
            return numbers;
        });
        // Draining to under 6 queued (26 messages at one per 100 ms) takes about 2.6 s; a wait ended by the 1 s timeout
        // would release the publisher at about 1 s.
        await publisher.ExpectNoPacketAsync(TimeSpan.FromMilliseconds(1700));

        for (var i = highWater; i < count; i++) Assert.Equal((ushort)(i + 1), (await publisher.ReceiveAsync<PubAckPacket>()).PacketId);
        Assert.Equal(Enumerable.Range(0, count), await slowReader);
        Assert.DoesNotContain("stalled client", server.Output, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(BothVersions))]
    public async Task AnOfflineSessionHoldsABacklogOf100000Messages_WithTheDefaultLimits(ProtocolVersion version)
    {
        // Every message acknowledged to the publisher reaches the subscriber when it comes back (none dropped by a queue
        // limit: a 3.1.1 publisher could not even be told).
        var server = await StartServerAsync();
        var topic = NewTopic();
        var id = NewClientId("offline");
        var subscriber = await ConnectPersistentAsync(version, id, server: server);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        await subscriber.DisconnectAsync();

        const int count = 100_000;
        var publisher = await ConnectAsync(version, server: server);
        const int window = 64;
        for (var sent = 0; sent < count; sent += window)
        {
            for (var i = sent; i < sent + window; i++) await publisher.SendAsync(Numbered(topic, i, QoS.AtLeastOnce, (ushort)(i % window + 1), payloadSize: 16));
            for (var i = 0; i < window; i++) Assert.Equal(ReasonCode.Success, (await publisher.ReceiveAsync<PubAckPacket>()).ReasonCode);
        }

        using var resumed = await RawSubscriber.ConnectAsync(server.MqttPort, version, id, topic: null, cleanStart: false);
        Assert.Equal(Enumerable.Range(0, count), await resumed.ReadNumberedAsync(count, TimeSpan.FromSeconds(120)));
    }

    /// <summary>A PUBLISH whose payload starts with its number (big-endian), for order and loss checks.</summary>
    private static PublishPacket Numbered(string topic, int number, QoS qos = QoS.AtMostOnce, ushort packetId = 0, int payloadSize = PayloadSize)
    {
        var payload = new byte[payloadSize];
        BinaryPrimitives.WriteInt32BigEndian(payload, number);
        return new PublishPacket { Topic = topic, Payload = payload, QoS = qos, PacketId = packetId };
    }

    /// <summary>
    /// A subscriber over a plain socket with a small receive buffer that reads only when asked: unlike
    /// <see cref="MqttTestClient"/>, which reads everything at once, it can stop reading and so fall behind.
    /// </summary>
    private sealed class RawSubscriber : IDisposable
    {
        private readonly Socket _socket;
        private readonly ProtocolVersion _version;
        private readonly byte[] _buffer = new byte[256 * 1024];
        private int _filled;

        private RawSubscriber(Socket socket, ProtocolVersion version)
        {
            _socket = socket;
            _version = version;
        }

        public static async Task<RawSubscriber> ConnectAsync(int port, ProtocolVersion version, string clientId, string? topic, bool cleanStart = true)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096, NoDelay = true };
            await socket.ConnectAsync("127.0.0.1", port);
            var subscriber = new RawSubscriber(socket, version);
            await subscriber.SendAsync(new ConnectPacket
            {
                ProtocolName = "MQTT",
                ProtocolVersion = version,
                ClientId = clientId,
                CleanStart = cleanStart,
                KeepAliveSeconds = 0,
                Properties = version == ProtocolVersion.V500 && !cleanStart ? new MqttProperties { SessionExpiryInterval = 300 } : null,
            });
            Assert.IsType<ConnAckPacket>(await subscriber.ReadPacketAsync(TimeSpan.FromSeconds(10)));
            if (topic is null) return subscriber;
            await subscriber.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription { TopicFilter = topic, MaximumQoS = QoS.AtLeastOnce }] });
            Assert.IsType<SubAckPacket>(await subscriber.ReadPacketAsync(TimeSpan.FromSeconds(10)));
            return subscriber;
        }

        /// <summary>Reads <paramref name="count"/> PUBLISHes (acknowledging QoS 1) and returns their numbers in arrival order.</summary>
        public async Task<List<int>> ReadNumberedAsync(int count, TimeSpan timeout)
        {
            var numbers = new List<int>(count);
            using var deadline = new CancellationTokenSource(timeout);
            while (numbers.Count < count)
            {
                var packet = await ReadPacketAsync($"{numbers.Count} of {count} messages arrived", deadline.Token);
                if (packet is not PublishPacket publish) continue;
                numbers.Add(BinaryPrimitives.ReadInt32BigEndian(publish.Payload.Span));
                if (publish.QoS == QoS.AtLeastOnce) await SendAsync(new PubAckPacket { PacketId = publish.PacketId });
            }
            return numbers;
        }

        private async Task<MqttPacket> ReadPacketAsync(TimeSpan timeout)
        {
            using var deadline = new CancellationTokenSource(timeout);
            return await ReadPacketAsync("no packet", deadline.Token);
        }

        private async Task<MqttPacket> ReadPacketAsync(string progress, CancellationToken cancellationToken)
        {
            while (true)
            {
                var sequence = new ReadOnlySequence<byte>(_buffer, 0, _filled);
                if (PacketReader.TryRead(ref sequence, _version, uint.MaxValue, out var packet))
                {
                    var consumed = _filled - (int)sequence.Length;
                    Buffer.BlockCopy(_buffer, consumed, _buffer, 0, _filled - consumed);
                    _filled -= consumed;
                    return packet!;
                }
                int read;
                try
                {
                    read = await _socket.ReceiveAsync(_buffer.AsMemory(_filled), SocketFlags.None, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    throw new MqttTestException($"timed out: {progress}");
                }
                if (read == 0) throw new MqttTestException($"the server closed the connection: {progress}");
                _filled += read;
            }
        }

        private async Task SendAsync(MqttPacket packet) => await _socket.SendAsync(MqttTestClient.Encode(packet, _version), SocketFlags.None);

        public void Dispose() => _socket.Dispose();
    }
}
