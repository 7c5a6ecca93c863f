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
    public static bool TryRead(ref ReadOnlySequence<byte> buffer, ProtocolVersion? version, uint maximumPacketSize, out MqttPacket? packet)
    {
        throw new NotImplementedException();
    }
}
