using System.Buffers;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Protocol.Codec;

/// <summary>Decodes MQTT packets from a byte sequence without I/O.</summary>
public static class PacketReader
{
    /// <summary>
    /// Decodes one packet from the start of <paramref name="buffer"/>. Returns false when more bytes are needed
    /// (nothing consumed). On success <paramref name="buffer"/> is advanced past the packet.
    /// Throws <see cref="MqttProtocolException"/> for malformed input or protocol errors, including
    /// <see cref="ReasonCode.PacketTooLarge"/> as soon as the fixed header announces more than
    /// <paramref name="maximumPacketSize"/> bytes in total.
    /// The first packet of a connection must be decoded with <paramref name="version"/> = null: only CONNECT is
    /// then accepted and it carries its own version. Decoded byte fields (payload, correlation data, password)
    /// are copied out of the buffer, so the packet outlives it.
    /// </summary>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, ProtocolVersion? version, uint maximumPacketSize, out MqttPacket? packet) =>
        TryRead(ref buffer, version, maximumPacketSize, publishPool: null, out packet);

    /// <summary>
    /// As <see cref="TryRead(ref ReadOnlySequence{byte}, ProtocolVersion?, uint, out MqttPacket?)"/>; a QoS 0 PUBLISH is
    /// taken from <paramref name="publishPool"/> (when given), for its owner to release (see <see cref="PublishPacketPool"/>).
    /// </summary>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, ProtocolVersion? version, uint maximumPacketSize, PublishPacketPool? publishPool,
        out MqttPacket? packet) =>
        TryRead(ref buffer, version, maximumPacketSize, publishPool, connectPool: null, out packet);

    /// <summary>
    /// As <see cref="TryRead(ref ReadOnlySequence{byte}, ProtocolVersion?, uint, PublishPacketPool?, out MqttPacket?)"/>; a
    /// CONNECT is taken from <paramref name="connectPool"/> (when given), for its handler to give back (see <see cref="ConnectPacketPool"/>).
    /// </summary>
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, ProtocolVersion? version, uint maximumPacketSize, PublishPacketPool? publishPool,
        ConnectPacketPool? connectPool, out MqttPacket? packet)
    {
        packet = null;
        if (buffer.IsEmpty) return false;

        var first = buffer.FirstSpan;
        Span<byte> scratch = stackalloc byte[FixedHeader.MaxLength];
        scoped ReadOnlySpan<byte> head = first;
        if (first.Length < FixedHeader.MaxLength && !buffer.IsSingleSegment)
        {
            // The fixed header straddles segments: gather its (at most 5) bytes.
            var count = (int)Math.Min(buffer.Length, FixedHeader.MaxLength);
            buffer.Slice(0, count).CopyTo(scratch);
            head = scratch[..count];
        }
        if (!FixedHeader.TryParse(head, version, maximumPacketSize, out var header)) return false;
        if (buffer.Length < header.TotalLength) return false;

        if (first.Length >= header.TotalLength)
        {
            // Fast path: the whole packet lies in one contiguous segment.
            packet = Decode(first.Slice(header.HeaderLength, header.RemainingLength), header, version, publishPool, connectPool);
        }
        else
        {
            packet = DecodeMultiSegment(buffer.Slice(header.HeaderLength, header.RemainingLength), header, version, publishPool, connectPool);
        }
        buffer = buffer.Slice(header.TotalLength);
        return true;
    }

    private static MqttPacket DecodeMultiSegment(ReadOnlySequence<byte> body, in FixedHeader header, ProtocolVersion? version,
        PublishPacketPool? publishPool, ConnectPacketPool? connectPool)
    {
        var rented = ArrayPool<byte>.Shared.Rent(header.RemainingLength);
        try
        {
            body.CopyTo(rented);
            return Decode(rented.AsSpan(0, header.RemainingLength), header, version, publishPool, connectPool);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private static MqttPacket Decode(ReadOnlySpan<byte> body, in FixedHeader header, ProtocolVersion? version, PublishPacketPool? publishPool,
        ConnectPacketPool? connectPool)
    {
        var r = new MqttBinaryReader(body);
        // Only CONNECT can arrive with version == null (checked by FixedHeader), and it carries its own version.
        var v = version.GetValueOrDefault(ProtocolVersion.V500);
        switch (header.Type)
        {
            case PacketType.Connect: return ConnectCodec.Decode(ref r, connectPool);
            case PacketType.ConnAck: return ConnAckCodec.Decode(ref r, v);
            case PacketType.Publish: return PublishCodec.Decode(ref r, header.Flags, v, publishPool);
            case PacketType.PubAck:
            case PacketType.PubRec:
            case PacketType.PubRel:
            case PacketType.PubComp: return PublishFlowCodec.Decode(ref r, header.Type, v);
            case PacketType.Subscribe: return SubscribeCodec.Decode(ref r, v);
            case PacketType.SubAck: return SubAckCodec.Decode(ref r, v);
            case PacketType.Unsubscribe: return UnsubscribeCodec.Decode(ref r, v);
            case PacketType.UnsubAck: return UnsubAckCodec.Decode(ref r, v);
            case PacketType.PingReq:
                RequireEmpty(ref r, header.Type);
                return PingReqPacket.Instance;
            case PacketType.PingResp:
                RequireEmpty(ref r, header.Type);
                return PingRespPacket.Instance;
            case PacketType.Disconnect: return DisconnectCodec.Decode(ref r, v);
            case PacketType.Auth: return AuthCodec.Decode(ref r);
            default:
                ThrowHelper.Malformed($"Reserved packet type {(int)header.Type}.");
                return null!;
        }
    }

    /// <summary>PINGREQ and PINGRESP have neither variable header nor payload (sections 3.12, 3.13).</summary>
    private static void RequireEmpty(ref MqttBinaryReader r, PacketType type)
    {
        if (!r.End) ThrowHelper.Malformed($"{type} must have Remaining Length 0.");
    }
}
