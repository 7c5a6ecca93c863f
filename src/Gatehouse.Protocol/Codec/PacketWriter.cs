using System.Buffers;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Protocol.Codec;

/// <summary>Encodes MQTT packets for a given protocol version.</summary>
public static class PacketWriter
{
    /// <summary>Writes the complete packet (fixed header included) and returns the number of bytes written.</summary>
    public static int Write(IBufferWriter<byte> output, MqttPacket packet, ProtocolVersion version)
    {
        throw new NotImplementedException();
    }

    /// <summary>The encoded size in bytes, fixed header included, without encoding.</summary>
    public static int GetSize(MqttPacket packet, ProtocolVersion version)
    {
        throw new NotImplementedException();
    }
}
