using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Benchmarks;

/// <summary>
/// The MQTT codec on the packets a broker handles most: QoS 0 PUBLISH (64-byte payload), QoS 1 PUBLISH with a Content
/// Type and a User Property, CONNECT with credentials and a will, SUBSCRIBE with three filters, PUBACK. Decoding reads
/// from one segment (a packet that arrived whole) and, for PUBLISH, from two (a packet that straddled two socket reads);
/// encoding writes into one reused buffer. Each benchmark runs a batch, so figures are per packet. In 3.1.1 the packets
/// carry no properties (the version has none), so the QoS 1 rows at 3.1.1 against 5.0 show what the properties cost.
/// Decoding the same topic again and again hits the reader's topic-name cache, as a device publishing to its few topics
/// does: the decoded PUBLISH then allocates the packet and its payload but no topic string, and nothing at all when it is
/// decoded into a recycled packet as the broker does (<c>DecodePublishQoS0Recycled</c>).
/// <code>dotnet run -c Release --project bench/Gatehouse.Benchmarks -- --filter '*Codec*'</code>
/// </summary>
[MemoryDiagnoser]
public class CodecBenchmarks
{
    private const int Batch = 1000;

    private readonly ArrayBufferWriter<byte> _output = new(4096);
    private readonly PublishPacketPool _pool = new();
    private PublishPacket _publishQoS0 = null!;
    private PublishPacket _publishQoS1 = null!;
    private ConnectPacket _connect = null!;
    private SubscribePacket _subscribe = null!;
    private PubAckPacket _pubAck = null!;
    private ReadOnlySequence<byte> _publishQoS0Whole;
    private ReadOnlySequence<byte> _publishQoS0Split;
    private ReadOnlySequence<byte> _publishQoS1Whole;
    private ReadOnlySequence<byte> _publishQoS1Split;
    private ReadOnlySequence<byte> _connectWhole;
    private ReadOnlySequence<byte> _subscribeWhole;
    private ReadOnlySequence<byte> _pubAckWhole;

    [Params(ProtocolVersion.V311, ProtocolVersion.V500)]
    public ProtocolVersion Version { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var payload = new byte[64];
        new Random(17).NextBytes(payload);
        _publishQoS0 = new PublishPacket { Topic = "sensors/17/temperature", Payload = payload };
        _publishQoS1 = new PublishPacket
        {
            Topic = "sensors/17/temperature",
            Payload = payload,
            QoS = QoS.AtLeastOnce,
            PacketId = 42,
            Properties = new MqttProperties { ContentType = "application/json", UserProperties = [new UserProperty("site", "lyon-3")] },
        };
        _connect = new ConnectPacket
        {
            ProtocolVersion = Version,
            KeepAliveSeconds = 60,
            ClientId = "device-000017",
            UserName = "device-000017",
            Password = Encoding.ASCII.GetBytes("k3Jx9vQ2mT7wLp4sZ8nB1cR6yH0dF5gA"),
            Will = new WillMessage
            {
                Topic = "devices/000017/status",
                Payload = "offline"u8.ToArray(),
                QoS = QoS.AtLeastOnce,
                Retain = true,
                Properties = new MqttProperties { WillDelayInterval = 30 },
            },
            Properties = new MqttProperties { SessionExpiryInterval = 3600, ReceiveMaximum = 100 },
        };
        _subscribe = new SubscribePacket
        {
            PacketId = 7,
            Subscriptions =
            [
                new TopicSubscription { TopicFilter = "devices/000017/commands/+", MaximumQoS = QoS.AtLeastOnce },
                new TopicSubscription { TopicFilter = "sites/lyon-3/#", MaximumQoS = QoS.AtMostOnce },
                new TopicSubscription { TopicFilter = "fleet/broadcast", MaximumQoS = QoS.AtLeastOnce },
            ],
        };
        _pubAck = new PubAckPacket { PacketId = 42 };

        _publishQoS0Whole = Whole(_publishQoS0);
        _publishQoS0Split = Split(_publishQoS0);
        _publishQoS1Whole = Whole(_publishQoS1);
        _publishQoS1Split = Split(_publishQoS1);
        _connectWhole = Whole(_connect);
        _subscribeWhole = Whole(_subscribe);
        _pubAckWhole = Whole(_pubAck);
    }

    private byte[] Encoded(MqttPacket packet)
    {
        var output = new ArrayBufferWriter<byte>();
        PacketWriter.Write(output, packet, Version);
        return output.WrittenSpan.ToArray();
    }

    private ReadOnlySequence<byte> Whole(MqttPacket packet) => new(Encoded(packet));

    /// <summary>Split in the middle of the payload: the fixed header is whole, the body is gathered from two segments.</summary>
    private ReadOnlySequence<byte> Split(MqttPacket packet)
    {
        var bytes = Encoded(packet);
        return SplitSequence.InTwo(bytes, bytes.Length / 2);
    }

    /// <summary>Decodes <paramref name="bytes"/> (one packet) <see cref="Batch"/> times; CONNECT is read as a first packet.</summary>
    private MqttPacket? DecodeBatch(ReadOnlySequence<byte> bytes, ProtocolVersion? version)
    {
        MqttPacket? packet = null;
        for (var i = 0; i < Batch; i++)
        {
            var remaining = bytes;
            if (!PacketReader.TryRead(ref remaining, version, uint.MaxValue, out packet)) throw new InvalidOperationException("incomplete packet");
        }
        return packet;
    }

    /// <summary>
    /// As the broker's read loops decode a QoS 0 PUBLISH: into a packet of a <see cref="PublishPacketPool"/>, which goes
    /// back to the pool once its holders are done (here at once), so the next one reuses it and its payload buffer.
    /// </summary>
    private MqttPacket? DecodeRecycledBatch(ReadOnlySequence<byte> bytes)
    {
        MqttPacket? packet = null;
        for (var i = 0; i < Batch; i++)
        {
            var remaining = bytes;
            if (!PacketReader.TryRead(ref remaining, Version, uint.MaxValue, _pool, out packet)) throw new InvalidOperationException("incomplete packet");
            var publish = (PublishPacket)packet!;
            publish.AllowRecycling();
            publish.Release();
        }
        return packet;
    }

    private int EncodeBatch(MqttPacket packet)
    {
        var output = _output;
        var total = 0;
        for (var i = 0; i < Batch; i++)
        {
            output.ResetWrittenCount();
            total += PacketWriter.Write(output, packet, Version);
        }
        return total;
    }

    [Benchmark(OperationsPerInvoke = Batch)]
    public MqttPacket? DecodePublishQoS0() => DecodeBatch(_publishQoS0Whole, Version);

    [Benchmark(OperationsPerInvoke = Batch)]
    public MqttPacket? DecodePublishQoS0Split() => DecodeBatch(_publishQoS0Split, Version);

    [Benchmark(OperationsPerInvoke = Batch)]
    public MqttPacket? DecodePublishQoS0Recycled() => DecodeRecycledBatch(_publishQoS0Whole);

    [Benchmark(OperationsPerInvoke = Batch)]
    public MqttPacket? DecodePublishQoS1Properties() => DecodeBatch(_publishQoS1Whole, Version);

    [Benchmark(OperationsPerInvoke = Batch)]
    public MqttPacket? DecodePublishQoS1PropertiesSplit() => DecodeBatch(_publishQoS1Split, Version);

    [Benchmark(OperationsPerInvoke = Batch)]
    public MqttPacket? DecodeConnect() => DecodeBatch(_connectWhole, version: null);

    [Benchmark(OperationsPerInvoke = Batch)]
    public MqttPacket? DecodeSubscribe() => DecodeBatch(_subscribeWhole, Version);

    [Benchmark(OperationsPerInvoke = Batch)]
    public MqttPacket? DecodePubAck() => DecodeBatch(_pubAckWhole, Version);

    [Benchmark(OperationsPerInvoke = Batch)]
    public int EncodePublishQoS0() => EncodeBatch(_publishQoS0);

    [Benchmark(OperationsPerInvoke = Batch)]
    public int EncodePublishQoS1Properties() => EncodeBatch(_publishQoS1);

    [Benchmark(OperationsPerInvoke = Batch)]
    public int EncodeConnect() => EncodeBatch(_connect);

    [Benchmark(OperationsPerInvoke = Batch)]
    public int EncodeSubscribe() => EncodeBatch(_subscribe);

    [Benchmark(OperationsPerInvoke = Batch)]
    public int EncodePubAck() => EncodeBatch(_pubAck);
}
