namespace Gatehouse.Protocol.Codec;

/// <summary>Sizes computed once by <see cref="PacketWriter"/> and reused while encoding, so nothing is measured twice.</summary>
internal readonly struct EncodePlan
{
    public EncodePlan(byte firstByte, long remainingLength, int propertiesLength = 0, int willPropertiesLength = 0)
    {
        if (remainingLength > VariableByteInteger.MaxValue) ThrowHelper.Encoding("Packet exceeds the maximum Remaining Length of 268,435,455 bytes.");
        FirstByte = firstByte;
        RemainingLength = (int)remainingLength;
        PropertiesLength = propertiesLength;
        WillPropertiesLength = willPropertiesLength;
    }

    public byte FirstByte { get; }
    public int RemainingLength { get; }
    /// <summary>Content length of the packet's property block (without its length prefix).</summary>
    public int PropertiesLength { get; }
    /// <summary>Content length of the CONNECT Will Properties block.</summary>
    public int WillPropertiesLength { get; }

    public int TotalLength => 1 + VariableByteInteger.GetSize((uint)RemainingLength) + RemainingLength;

    public static byte FirstByteOf(PacketType type, int flags = 0) => (byte)(((int)type << 4) | flags);
}
