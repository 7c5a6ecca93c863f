namespace Gatehouse.Protocol.Codec;

/// <summary>The fixed header (section 2.1): type, flags and Remaining Length.</summary>
internal readonly record struct FixedHeader(PacketType Type, byte Flags, int HeaderLength, int RemainingLength)
{
    /// <summary>One type/flags byte and at most four Remaining Length bytes.</summary>
    public const int MaxLength = 5;

    public long TotalLength => (long)HeaderLength + RemainingLength;

    /// <summary>
    /// Parses and validates the fixed header from the first bytes of the input. Returns false when more bytes are
    /// needed. Type and flags are checked from the first byte alone, so garbage is rejected early.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> head, ProtocolVersion? version, uint maximumPacketSize, out FixedHeader header)
    {
        header = default;
        if (head.IsEmpty) return false;
        var type = (PacketType)(head[0] >> 4);
        var flags = (byte)(head[0] & 0x0F);
        Validate(type, flags, version);

        var used = VariableByteInteger.TryRead(head[1..], requireMinimal: version == ProtocolVersion.V500, out var remaining);
        if (used == 0) return false;
        var total = 1L + used + remaining;
        if (total > maximumPacketSize)
        {
            ThrowHelper.Protocol(ReasonCode.PacketTooLarge, $"Packet of {total} bytes exceeds the maximum of {maximumPacketSize}.");
        }
        header = new FixedHeader(type, flags, 1 + used, (int)remaining);
        return true;
    }

    private static void Validate(PacketType type, byte flags, ProtocolVersion? version)
    {
        // Type 0 is reserved/forbidden in both versions; 15 (AUTH) exists only in 5.0.
        if (type == 0) ThrowHelper.Malformed("Reserved packet type 0.");
        // "After a Network Connection is established ... the first packet sent from the Client to the Server MUST be
        // a CONNECT packet" [MQTT-3.1.0-1].
        if (version is null && type != PacketType.Connect) ThrowHelper.ProtocolError($"Expected CONNECT, got {type}.");
        if (type == PacketType.Auth && version is not null and not ProtocolVersion.V500) ThrowHelper.Malformed("Reserved packet type 15.");

        switch (type)
        {
            case PacketType.Publish:
                var qos = (flags >> 1) & 0x03;
                // "A PUBLISH Packet MUST NOT have both QoS bits set to 1" [MQTT-3.3.1-4].
                if (qos == 3) ThrowHelper.Malformed("PUBLISH with QoS 3.");
                // "The DUP flag MUST be set to 0 for all QoS 0 messages" [MQTT-3.3.1-2].
                if (qos == 0 && (flags & 0x08) != 0) ThrowHelper.Malformed("PUBLISH with QoS 0 and DUP set.");
                break;
            case PacketType.PubRel:
            case PacketType.Subscribe:
            case PacketType.Unsubscribe:
                // [MQTT-3.6.1-1], [MQTT-3.8.1-1], [MQTT-3.10.1-1]. MQTT 3.1 predates the rule (it carried a QoS
                // there), so like Mosquitto we only enforce it from 3.1.1 on.
                if (flags != 0x02 && version != ProtocolVersion.V310) ThrowHelper.Malformed($"Invalid fixed header flags 0x{flags:X} for {type}.");
                break;
            default:
                // Reserved flags MUST be as listed [MQTT-2.2.2-1]; invalid flags are malformed (5.0 section 2.1.3,
                // 3.1.1 [MQTT-2.2.2-2]).
                if (flags != 0 && version != ProtocolVersion.V310) ThrowHelper.Malformed($"Invalid fixed header flags 0x{flags:X} for {type}.");
                break;
        }
    }
}
