using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Gatehouse.Broker.Connections;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;
using Gatehouse.Storage;
using Gatehouse.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gatehouse.Broker.Tests.Routing;

/// <summary>
/// Allocation budget of the whole QoS 0 path (issue 5: "the QoS 0 path allocates nothing per message"): a PUBLISH read
/// from the publisher's connection, decoded, routed and written to each subscriber's connection. The connections are
/// in-memory pipes whose readers and writers run inline, so the broker handles each PUBLISH, and its writers write it,
/// on the test's thread while the test flushes it: what that thread allocates is what the path allocates. Each round
/// checks that the subscribers have the message before the next one, so nothing can move to another thread unseen.
/// </summary>
public sealed class QoS0PathAllocationTests
{
    private const int Rounds = 2000;
    private const int Windows = 5;

    [Theory]
    [InlineData(ProtocolVersion.V311, 1)]
    [InlineData(ProtocolVersion.V500, 1)]
    [InlineData(ProtocolVersion.V311, 50)]
    [InlineData(ProtocolVersion.V500, 50)]
    public async Task A_QoS0_message_passed_on_to_connected_subscribers_allocates_nothing(ProtocolVersion version, int subscribers)
    {
        var broker = new MqttBroker(new BrokerOptions(), new MemoryBrokerStore(), NullLoggerFactory.Instance);
        await broker.StartAsync(CancellationToken.None);
        var receivers = new List<PipeClient>();
        for (var i = 0; i < subscribers; i++)
        {
            var receiver = await PipeClient.ConnectAsync(broker, version, $"sub-{i}");
            await receiver.RequestAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription { TopicFilter = "sensors/+/temp" }] });
            receivers.Add(receiver);
        }
        var publisher = await PipeClient.ConnectAsync(broker, version, "pub");
        var publish = MqttTestClient.Encode(new PublishPacket { Topic = "sensors/17/temp", Payload = new byte[64] }, version);

        for (var i = 0; i < 100; i++) PublishAndReceive(publisher, publish, receivers); // warm up: JIT, pools, topic cache
        // Several windows: the pipes' buffers come from the process-wide array pool, which tests running in parallel can
        // empty, so a window may see one of them allocated. Anything the path allocated per message would be in every one.
        var windows = new long[Windows];
        for (var w = 0; w < Windows; w++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < Rounds; i++) PublishAndReceive(publisher, publish, receivers);
            windows[w] = GC.GetAllocatedBytesForCurrentThread() - before;
        }

        foreach (var client in receivers.Append(publisher)) client.Close();
        await broker.ShutdownAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        await broker.DisposeAsync();
        Assert.True(windows.Min() == 0,
            $"bytes allocated per window of {Rounds} messages to {subscribers} subscriber(s): {string.Join(", ", windows)} ({(double)windows.Min() / Rounds:F1} B per message)");
    }

    private static void PublishAndReceive(PipeClient publisher, byte[] publish, List<PipeClient> receivers)
    {
        publisher.SendInline(publish);
        foreach (var receiver in receivers) receiver.TakeInline(publish.Length);
    }

    /// <summary>A client connection as two inline pipes: the broker reads <see cref="_toBroker"/> and writes <see cref="_fromBroker"/>.</summary>
    private sealed class PipeClient : IDuplexPipe
    {
        private static readonly PipeOptions Inline = new(readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: 0, useSynchronizationContext: false);

        private readonly Pipe _toBroker = new(Inline);
        private readonly Pipe _fromBroker = new(Inline);
        private readonly ProtocolVersion _version;

        private PipeClient(ProtocolVersion version) => _version = version;

        public PipeReader Input => _toBroker.Reader;
        public PipeWriter Output => _fromBroker.Writer;

        public static async Task<PipeClient> ConnectAsync(MqttBroker broker, ProtocolVersion version, string clientId)
        {
            var client = new PipeClient(version);
            var info = new ConnectionInfo("tcp", new IPEndPoint(IPAddress.Loopback, 40000), new IPEndPoint(IPAddress.Loopback, 1883), IsSecure: false);
            _ = broker.HandleConnectionAsync(client, info, CancellationToken.None);
            var connAck = Assert.IsType<ConnAckPacket>(await client.RequestAsync(
                new ConnectPacket { ProtocolVersion = version, ClientId = clientId, CleanStart = true }));
            Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
            return client;
        }

        /// <summary>Sends a packet and returns the broker's answer (CONNACK, SUBACK).</summary>
        public async Task<MqttPacket> RequestAsync(MqttPacket packet)
        {
            await _toBroker.Writer.WriteAsync(MqttTestClient.Encode(packet, _version));
            using var timeout = new CancellationTokenSource(MqttTestClient.DefaultTimeout);
            while (true)
            {
                var read = await _fromBroker.Reader.ReadAsync(timeout.Token);
                var buffer = read.Buffer;
                if (PacketReader.TryRead(ref buffer, _version, uint.MaxValue, out var reply))
                {
                    _fromBroker.Reader.AdvanceTo(buffer.Start);
                    return reply!;
                }
                _fromBroker.Reader.AdvanceTo(buffer.Start, buffer.End);
            }
        }

        /// <summary>Writes bytes for the broker; its read loop handles them before the flush returns.</summary>
        public void SendInline(byte[] bytes)
        {
            _toBroker.Writer.Write(bytes);
            var flush = _toBroker.Writer.FlushAsync();
            if (flush.IsCompletedSuccessfully) _ = flush.Result;
            else Assert.Fail("the broker's read loop did not take the bytes inline");
        }

        /// <summary>The client goes away: the broker's read loop ends.</summary>
        public void Close() => _toBroker.Writer.Complete();

        /// <summary>Takes exactly <paramref name="length"/> bytes the broker must already have written.</summary>
        public void TakeInline(int length)
        {
            // Checked without Assert.Equal, which allocates (boxing, comparers) even when the values are equal.
            if (!_fromBroker.Reader.TryRead(out var read)) Assert.Fail("the subscriber got nothing: the writer did not run inline");
            if (read.Buffer.Length != length) Assert.Fail($"the subscriber got {read.Buffer.Length} bytes, not the {length} of the PUBLISH");
            _fromBroker.Reader.AdvanceTo(read.Buffer.End);
        }
    }
}
