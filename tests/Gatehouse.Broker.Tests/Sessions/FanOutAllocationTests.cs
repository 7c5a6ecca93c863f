using System.Buffers;
using Gatehouse.Broker.Sessions;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Broker.Tests.Sessions;

/// <summary>
/// Allocation budget of QoS 0 fan-out (bench/Gatehouse.Benchmarks FanOutEncodeBenchmarks measures its speed): a message
/// routed to many subscribers of one protocol family gets its PUBLISH built once, on the first recipient, and every
/// other recipient's channel and writer reuse that packet, so sending to them allocates nothing.
/// </summary>
public sealed class FanOutAllocationTests
{
    private const int Recipients = 500;

    [Theory]
    [InlineData(ProtocolVersion.V311)]
    [InlineData(ProtocolVersion.V500)]
    public void A_QoS0_message_for_500_recipients_is_built_once_and_encoded_for_each_without_allocating(ProtocolVersion version)
    {
        var outputs = Enumerable.Range(0, Recipients).Select(_ => new ArrayBufferWriter<byte>(256)).ToArray();
        var sent = new PublishPacket[Recipients];
        SendToAll(NewDelivery(), version, outputs, sent); // warm up: JIT and first-use paths

        var delivery = NewDelivery();
        var first = OutgoingPublish.Create(delivery, packetId: 0, dup: false, TimeProvider.System, version);
        var before = GC.GetAllocatedBytesForCurrentThread();
        SendToAll(delivery, version, outputs, sent);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.All(sent, packet => Assert.Same(first, packet));
        Assert.All(outputs, output => Assert.Equal(PacketWriter.GetSize(first, version), output.WrittenCount));
        Assert.Equal(0, allocated);
    }

    /// <summary>What each recipient's channel (Create) and writer (Write into its own buffer) do with the delivery.</summary>
    private static void SendToAll(Delivery delivery, ProtocolVersion version, ArrayBufferWriter<byte>[] outputs, PublishPacket[] sent)
    {
        for (var i = 0; i < outputs.Length; i++)
        {
            var packet = OutgoingPublish.Create(delivery, packetId: 0, dup: false, TimeProvider.System, version);
            outputs[i].ResetWrittenCount();
            PacketWriter.Write(outputs[i], packet, version);
            sent[i] = packet;
        }
    }

    /// <summary>A QoS 0 delivery with nothing per recipient (no subscription identifier, no expiry): the shareable form.</summary>
    private static Delivery NewDelivery()
    {
        var message = new ApplicationMessage
        {
            Topic = "sensors/17/temperature",
            Payload = new byte[64],
            QoS = QoS.AtMostOnce,
            Properties = new MqttProperties { ContentType = "application/json" },
        };
        return new Delivery(message, QoS.AtMostOnce, retain: false, subscriptionIdentifiers: null, shareGroup: null);
    }
}
