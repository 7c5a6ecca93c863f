namespace Gatehouse.Protocol.Codec;

/// <summary>The Variable Byte Integer of section 1.5.5 (7 bits per byte, continuation in bit 7, at most 4 bytes).</summary>
internal static class VariableByteInteger
{
    public const uint MaxValue = 268_435_455;

    public static int GetSize(uint value) => value switch
    {
        < 128 => 1,
        < 16_384 => 2,
        < 2_097_152 => 3,
        <= MaxValue => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(value), value, "A Variable Byte Integer holds at most 268,435,455."),
    };

    public static int Write(Span<byte> destination, uint value)
    {
        if (value > MaxValue) ThrowHelper.Encoding("A Variable Byte Integer holds at most 268,435,455.");
        var i = 0;
        do
        {
            var b = (byte)(value & 0x7F);
            value >>= 7;
            if (value != 0) b |= 0x80;
            destination[i++] = b;
        }
        while (value != 0);
        return i;
    }

    /// <summary>
    /// Decodes from <paramref name="source"/>. Returns the number of bytes used, or 0 when the source ends before the
    /// last byte (needs more data). Throws Malformed when a fifth byte would be needed [MQTT-1.5.5-1].
    /// When <paramref name="requireMinimal"/> is set a non-minimal encoding (a trailing 0x00 group after a
    /// continuation) is Malformed: "The encoded value MUST use the minimum number of bytes" [MQTT-1.5.5-1] (5.0).
    /// </summary>
    public static int TryRead(ReadOnlySpan<byte> source, bool requireMinimal, out uint value)
    {
        value = 0;
        var shift = 0;
        for (var i = 0; i < 4; i++)
        {
            if (i >= source.Length) return 0;
            var b = source[i];
            value |= (uint)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                if (requireMinimal && b == 0 && i > 0) ThrowHelper.Malformed("Variable Byte Integer is not minimally encoded.");
                return i + 1;
            }
            shift += 7;
        }
        ThrowHelper.Malformed("Variable Byte Integer longer than 4 bytes.");
        return 0;
    }
}
