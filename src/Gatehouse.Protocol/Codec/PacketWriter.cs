using System.Buffers;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Protocol.Codec;

/// <summary>Encodes MQTT packets for a given protocol version.</summary>
public static class PacketWriter
{
    /// <summary>Writes the complete packet (fixed header included) and returns the number of bytes written.</summary>
    public static int Write(IBufferWriter<byte> output, MqttPacket packet, ProtocolVersion version)
    {
        // PUBLISH is nearly every packet written: straight to it, not through the type tests below.
        if (packet is PublishPacket publish) return WritePublish(output, publish, version);
        var plan = Plan(packet, version);
        var total = plan.TotalLength;
        var w = new MqttBinaryWriter(output.GetSpan(total)[..total]);
        w.WriteByte(plan.FirstByte);
        w.WriteVariableByteInteger((uint)plan.RemainingLength);
        switch (packet)
        {
            case ConnectPacket p: ConnectCodec.Encode(ref w, p, version, plan); break;
            case ConnAckPacket p: ConnAckCodec.Encode(ref w, p, version, plan); break;
            case PublishPacket p: PublishCodec.Encode(ref w, p, version, plan); break;
            case PublishFlowPacket p: PublishFlowCodec.Encode(ref w, p, plan); break;
            case SubscribePacket p: SubscribeCodec.Encode(ref w, p, version, plan); break;
            case SubAckPacket p: SubAckCodec.Encode(ref w, p, version, plan); break;
            case UnsubscribePacket p: UnsubscribeCodec.Encode(ref w, p, version, plan); break;
            case UnsubAckPacket p: UnsubAckCodec.Encode(ref w, p, version, plan); break;
            case DisconnectPacket p: DisconnectCodec.EncodeReasonAndProperties(ref w, p.ReasonCode, p.Properties, PropertyScope.Disconnect, plan); break;
            case AuthPacket p: AuthCodec.Encode(ref w, p, plan); break;
            default: break; // PINGREQ / PINGRESP: fixed header only.
        }
        if (w.Position != total) throw new InvalidOperationException($"Encoded {w.Position} bytes for {packet.Type}, planned {total}.");
        output.Advance(total);
        return total;
    }

    private static int WritePublish(IBufferWriter<byte> output, PublishPacket packet, ProtocolVersion version)
    {
        var plan = PublishCodec.Plan(packet, version);
        var total = plan.TotalLength;
        var w = new MqttBinaryWriter(output.GetSpan(total)[..total]);
        w.WriteByte(plan.FirstByte);
        w.WriteVariableByteInteger((uint)plan.RemainingLength);
        PublishCodec.Encode(ref w, packet, version, plan);
        if (w.Position != total) throw new InvalidOperationException($"Encoded {w.Position} bytes for PUBLISH, planned {total}.");
        output.Advance(total);
        return total;
    }

    /// <summary>The encoded size in bytes, fixed header included, without encoding.</summary>
    public static int GetSize(MqttPacket packet, ProtocolVersion version) => Plan(packet, version).TotalLength;

    private static EncodePlan Plan(MqttPacket packet, ProtocolVersion version) => packet switch
    {
        PublishPacket p => PublishCodec.Plan(p, version),
        ConnectPacket p => ConnectCodec.Plan(p, version),
        ConnAckPacket p => ConnAckCodec.Plan(p, version),
        PublishFlowPacket p => PublishFlowCodec.Plan(p, version),
        SubscribePacket p => SubscribeCodec.Plan(p, version),
        SubAckPacket p => SubAckCodec.Plan(p, version),
        UnsubscribePacket p => UnsubscribeCodec.Plan(p, version),
        UnsubAckPacket p => UnsubAckCodec.Plan(p, version),
        DisconnectPacket p => DisconnectCodec.Plan(p, version),
        AuthPacket p => AuthCodec.Plan(p, version),
        PingReqPacket => new EncodePlan(EncodePlan.FirstByteOf(PacketType.PingReq), 0),
        PingRespPacket => new EncodePlan(EncodePlan.FirstByteOf(PacketType.PingResp), 0),
        _ => throw new ArgumentException($"Unknown packet type {packet.GetType().Name}.", nameof(packet)),
    };
}
