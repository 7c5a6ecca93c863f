using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Gatehouse.Protocol.Codec;

/// <summary>
/// Cursor over the body of one complete packet (everything after the fixed header). Every read is bounds-checked
/// against the packet, so a length prefix pointing past the end is Malformed rather than "need more data".
/// </summary>
internal ref struct MqttBinaryReader
{
    private readonly ReadOnlySpan<byte> _span;
    private int _position;

    public MqttBinaryReader(ReadOnlySpan<byte> span)
    {
        _span = span;
        _position = 0;
    }

    public readonly int Remaining => _span.Length - _position;

    public readonly bool End => _position >= _span.Length;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte ReadByte()
    {
        if ((uint)_position >= (uint)_span.Length) ThrowHelper.Truncated();
        return _span[_position++];
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ushort ReadUInt16()
    {
        if (Remaining < 2) ThrowHelper.Truncated();
        var value = BinaryPrimitives.ReadUInt16BigEndian(_span.Slice(_position, 2));
        _position += 2;
        return value;
    }

    public uint ReadUInt32()
    {
        if (Remaining < 4) ThrowHelper.Truncated();
        var value = BinaryPrimitives.ReadUInt32BigEndian(_span.Slice(_position, 4));
        _position += 4;
        return value;
    }

    /// <summary>A Variable Byte Integer inside the packet; it must be minimal [MQTT-1.5.5-1] (only 5.0 has them).</summary>
    public uint ReadVariableByteInteger()
    {
        var used = VariableByteInteger.TryRead(_span[_position..], requireMinimal: true, out var value);
        if (used == 0) ThrowHelper.Truncated();
        _position += used;
        return value;
    }

    public ReadOnlySpan<byte> ReadBytes(int count)
    {
        if ((uint)count > (uint)Remaining) ThrowHelper.Truncated();
        var slice = _span.Slice(_position, count);
        _position += count;
        return slice;
    }

    public ReadOnlySpan<byte> ReadToEnd()
    {
        var slice = _span[_position..];
        _position = _span.Length;
        return slice;
    }

    /// <summary>The 2-byte length prefixed bytes of a UTF-8 Encoded String, not yet validated.</summary>
    public ReadOnlySpan<byte> ReadStringBytes() => ReadBytes(ReadUInt16());

    /// <summary>A UTF-8 Encoded String (section 1.5.4), validated and decoded.</summary>
    public string ReadString() => Utf8Validation.Decode(ReadStringBytes());

    /// <summary>Binary Data (section 1.5.6), copied out of the input buffer (one allocation; none when empty).</summary>
    public byte[] ReadBinaryCopy() => ReadBytes(ReadUInt16()).ToArray();

    /// <summary>A reader over the next <paramref name="length"/> bytes; this reader moves past them.</summary>
    public MqttBinaryReader Slice(int length) => new(ReadBytes(length));
}
