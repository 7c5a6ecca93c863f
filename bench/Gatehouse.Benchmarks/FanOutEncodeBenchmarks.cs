using System.Buffers;
using BenchmarkDotNet.Attributes;
using Gatehouse.Broker.Sessions;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Benchmarks;

/// <summary>
/// Writing one message to <see cref="Recipients"/> subscribers of one protocol version, as the broker does after
/// routing: one <see cref="Delivery"/> per message shared by every session that gets the same form, then per recipient
/// <see cref="OutgoingPublish.Create(Delivery, ushort, bool, TimeProvider, ProtocolVersion, bool)"/> (what the session's
/// channel does) and <see cref="PacketWriter.Write"/> into that recipient's own buffer (what its writer does). A QoS 0
/// delivery builds its PUBLISH once and shares it, so the allocation per message does not grow with the recipients; a
/// QoS 1 delivery needs a packet id per recipient and so a PUBLISH per recipient, which is what sharing saves.
/// The QoS 0 message either comes from the broker (its PUBLISH built from the message) or arrived as a QoS 0 PUBLISH
/// that the delivery adopts (the router's common case: the 3.1.1 form is the arrived packet itself, and both forms
/// encode the topic from its cached UTF-8 bytes). Figures are per message, all recipients included.
/// <code>dotnet run -c Release --project bench/Gatehouse.Benchmarks -- --filter '*FanOutEncode*'</code>
/// </summary>
[MemoryDiagnoser]
public class FanOutEncodeBenchmarks
{
    private const string Topic = "sensors/17/temperature";

    private ArrayBufferWriter<byte>[] _connections = [];
    private ApplicationMessage _messageQoS0 = null!;
    private ApplicationMessage _messageQoS1 = null!;
    private ApplicationMessage _arrivedMessage = null!;
    private PublishPacket _arrivedPublish = null!;

    [Params(ProtocolVersion.V311, ProtocolVersion.V500)]
    public ProtocolVersion Version { get; set; }

    [Params(1, 500)]
    public int Recipients { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _connections = [.. Enumerable.Range(0, Recipients).Select(_ => new ArrayBufferWriter<byte>(256))];
        var payload = new byte[64];
        new Random(17).NextBytes(payload);
        _messageQoS0 = new ApplicationMessage { Topic = Topic, Payload = payload, QoS = QoS.AtMostOnce };
        _messageQoS1 = new ApplicationMessage { Topic = Topic, Payload = payload, QoS = QoS.AtLeastOnce };

        // Decoded twice, as a device's repeated topic is: the second time the topic comes from the reader's cache with
        // its UTF-8 bytes, and the message takes the decoded topic string, as the publish handler does.
        _arrivedPublish = ArrivedPublish(payload);
        _arrivedPublish = ArrivedPublish(payload);
        _arrivedMessage = new ApplicationMessage { Topic = _arrivedPublish.Topic, Payload = _arrivedPublish.Payload, QoS = QoS.AtMostOnce };
    }

    private PublishPacket ArrivedPublish(byte[] payload)
    {
        var output = new ArrayBufferWriter<byte>();
        PacketWriter.Write(output, new PublishPacket { Topic = Topic, Payload = payload }, Version);
        var bytes = new ReadOnlySequence<byte>(output.WrittenMemory);
        if (!PacketReader.TryRead(ref bytes, Version, uint.MaxValue, out var packet)) throw new InvalidOperationException("incomplete packet");
        return (PublishPacket)packet!;
    }

    private int WriteToAll(Delivery delivery, bool withPacketIds)
    {
        var total = 0;
        var connections = _connections;
        for (var i = 0; i < connections.Length; i++)
        {
            var packetId = withPacketIds ? (ushort)(i + 1) : (ushort)0;
            var packet = OutgoingPublish.Create(delivery, packetId, dup: false, TimeProvider.System, Version);
            var output = connections[i];
            output.ResetWrittenCount();
            total += PacketWriter.Write(output, packet, Version);
        }
        return total;
    }

    /// <summary>QoS 0, message from the broker: the PUBLISH is built on the first recipient and shared by the others.</summary>
    [Benchmark(Baseline = true)]
    public int SharedQoS0() => WriteToAll(new Delivery(_messageQoS0, QoS.AtMostOnce, retain: false, null, null), withPacketIds: false);

    /// <summary>QoS 0, message arrived as a QoS 0 PUBLISH: the delivery adopts it, as the router does.</summary>
    [Benchmark]
    public int SharedQoS0Arrived()
    {
        var delivery = new Delivery(_arrivedMessage, QoS.AtMostOnce, retain: false, null, null);
        OutgoingPublish.AdoptDecoded(delivery, _arrivedPublish);
        return WriteToAll(delivery, withPacketIds: false);
    }

    /// <summary>QoS 1: a packet id per recipient, so a PUBLISH built per recipient.</summary>
    [Benchmark]
    public int PerRecipientQoS1() => WriteToAll(new Delivery(_messageQoS1, QoS.AtLeastOnce, retain: false, null, null), withPacketIds: true);
}
