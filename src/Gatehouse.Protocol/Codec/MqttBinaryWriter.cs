using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace Gatehouse.Protocol.Codec;

/// <summary>Cursor over a destination span already sized by the packet's computed length.</summary>
internal ref struct MqttBinaryWriter
{
    private readonly Span<byte> _span;

    public MqttBinaryWriter(Span<byte> span)
    {
        _span = span;
        Position = 0;
    }

    public int Position { get; private set; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteByte(byte value) => _span[Position++] = value;

    public void WriteUInt16(ushort value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(_span.Slice(Position, 2), value);
        Position += 2;
    }

    public void WriteUInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_span.Slice(Position, 4), value);
        Position += 4;
    }

    public void WriteVariableByteInteger(uint value) => Position += VariableByteInteger.Write(_span[Position..], value);

    public void WriteBytes(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(_span[Position..]);
        Position += bytes.Length;
    }

    /// <summary>UTF-8 Encoded String: the bytes are encoded in place, then the length prefix is filled in.</summary>
    public void WriteString(string value)
    {
        var count = Encoding.UTF8.GetBytes(value, _span[(Position + 2)..]);
        if (count > ushort.MaxValue) ThrowHelper.Encoding("A UTF-8 Encoded String holds at most 65,535 bytes.");
        WriteUInt16((ushort)count);
        Position += count;
    }

    public void WriteBinary(ReadOnlySpan<byte> value)
    {
        if (value.Length > ushort.MaxValue) ThrowHelper.Encoding("Binary Data holds at most 65,535 bytes.");
        WriteUInt16((ushort)value.Length);
        WriteBytes(value);
    }
}
