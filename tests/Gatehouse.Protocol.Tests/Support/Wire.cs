using System.Buffers;
using System.Text;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Protocol.Tests.Support;

/// <summary>Encode/decode helpers and a tiny hex builder for hand-written packets.</summary>
internal static class Wire
{
    public const uint NoLimit = uint.MaxValue;

    /// <summary>Encodes and checks that GetSize predicted exactly the bytes Write produced.</summary>
    public static byte[] Encode(MqttPacket packet, ProtocolVersion version)
    {
        var writer = new ArrayBufferWriter<byte>();
        var written = PacketWriter.Write(writer, packet, version);
        Assert.Equal(writer.WrittenCount, written);
        Assert.Equal(PacketWriter.GetSize(packet, version), written);
        return writer.WrittenSpan.ToArray();
    }

    /// <summary>Decodes exactly one packet that must span the whole input.</summary>
    public static MqttPacket Decode(byte[] bytes, ProtocolVersion? version, uint maximumPacketSize = NoLimit)
    {
        var sequence = new ReadOnlySequence<byte>(bytes);
        Assert.True(PacketReader.TryRead(ref sequence, version, maximumPacketSize, out var packet), "expected a complete packet");
        Assert.True(sequence.IsEmpty, "the packet should consume the whole input");
        return packet!;
    }

    public static T Decode<T>(string hex, ProtocolVersion? version) where T : MqttPacket => Assert.IsType<T>(Decode(Hex(hex), version));

    public static MqttProtocolException DecodeFails(byte[] bytes, ProtocolVersion? version, uint maximumPacketSize = NoLimit)
    {
        return Assert.Throws<MqttProtocolException>(() =>
        {
            var sequence = new ReadOnlySequence<byte>(bytes);
            PacketReader.TryRead(ref sequence, version, maximumPacketSize, out _);
        });
    }

    /// <summary>The version to pass to the reader for a packet of this type (CONNECT is read as a first packet).</summary>
    public static ProtocolVersion? ReaderVersion(MqttPacket packet, ProtocolVersion version) =>
        packet is ConnectPacket ? null : version;

    public static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

    public static string ToHex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes);

    /// <summary>A complete packet: first byte, computed Remaining Length, body.</summary>
    public static byte[] Frame(byte firstByte, string bodyHex)
    {
        var body = Hex(bodyHex);
        var header = new List<byte> { firstByte };
        var value = body.Length;
        do
        {
            var b = (byte)(value & 0x7F);
            value >>= 7;
            if (value != 0) b |= 0x80;
            header.Add(b);
        }
        while (value != 0);
        return [.. header, .. body];
    }

    /// <summary>A UTF-8 Encoded String as hex (2-byte length prefix).</summary>
    public static string Str(string value) => Bin(Encoding.UTF8.GetBytes(value));

    public static string Bin(byte[] value) => $"{value.Length:X4}{Convert.ToHexString(value)}";

    /// <summary>A property block (Property Length + properties) as hex; the argument is the properties' hex.</summary>
    public static string Props(string propertiesHex = "")
    {
        var length = Hex(propertiesHex).Length;
        Assert.True(length < 128, "test helper only writes one-byte property lengths");
        return $"{length:X2}{propertiesHex}";
    }
}
