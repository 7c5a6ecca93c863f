using System.Text;

namespace Gatehouse.Protocol.Codec;

/// <summary>Encoded sizes of the primitive data types of section 1.5.</summary>
internal static class WireSize
{
    public static int String(string value)
    {
        var count = Encoding.UTF8.GetByteCount(value);
        if (count > ushort.MaxValue) ThrowHelper.Encoding("A UTF-8 Encoded String holds at most 65,535 bytes.");
        return 2 + count;
    }

    public static int Binary(int length)
    {
        if (length > ushort.MaxValue) ThrowHelper.Encoding("Binary Data holds at most 65,535 bytes.");
        return 2 + length;
    }
}
