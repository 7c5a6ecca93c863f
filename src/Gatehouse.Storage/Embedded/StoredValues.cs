using System.Buffers.Binary;
using System.Text;
using Gatehouse.Protocol;

namespace Gatehouse.Storage.Embedded;

/// <summary>
/// Encodings of the column values that are not plain SQLite types (format version 1). Kept independent of the wire
/// codec so that the file format does not change when the codec does.
/// </summary>
internal static class StoredValues
{
    // Tags reuse the MQTT property identifiers for readability in a hex dump.
    private const byte PayloadFormatTag = 0x01;
    private const byte ContentTypeTag = 0x03;
    private const byte ResponseTopicTag = 0x08;
    private const byte CorrelationDataTag = 0x09;
    private const byte UserPropertyTag = 0x26;

    /// <summary>
    /// The forwarded properties of a message [MQTT-3.3.2-17..20] as tag/value pairs; strings and binaries carry a
    /// 7-bit-encoded length; user properties keep their order and duplicates. Null when there are none. Other
    /// properties are never part of a stored message (expiry has its own column).
    /// </summary>
    public static byte[]? EncodeProperties(MqttProperties? p)
    {
        if (p is null || (p.PayloadFormatIndicator is null && p.ContentType is null && p.ResponseTopic is null
            && p.CorrelationData is null && (p.UserProperties is null || p.UserProperties.Count == 0))) return null;
        using var stream = new MemoryStream();
        using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            if (p.PayloadFormatIndicator is { } pfi) { w.Write(PayloadFormatTag); w.Write(pfi); }
            if (p.ContentType is { } ct) { w.Write(ContentTypeTag); w.Write(ct); }
            if (p.ResponseTopic is { } rt) { w.Write(ResponseTopicTag); w.Write(rt); }
            if (p.CorrelationData is { } cd)
            {
                w.Write(CorrelationDataTag);
                w.Write7BitEncodedInt(cd.Length);
                w.Write(cd.Span);
            }
            if (p.UserProperties is { } users)
            {
                foreach (var u in users) { w.Write(UserPropertyTag); w.Write(u.Name); w.Write(u.Value); }
            }
        }
        return stream.ToArray();
    }

    /// <exception cref="InvalidDataException">The bytes are not a valid encoding.</exception>
    public static MqttProperties? DecodeProperties(byte[]? bytes)
    {
        if (bytes is null || bytes.Length == 0) return null;
        var p = new MqttProperties();
        using var r = new BinaryReader(new MemoryStream(bytes, writable: false), Encoding.UTF8);
        try
        {
            while (r.BaseStream.Position < bytes.Length)
            {
                var tag = r.ReadByte();
                switch (tag)
                {
                    case PayloadFormatTag: p.PayloadFormatIndicator = r.ReadByte(); break;
                    case ContentTypeTag: p.ContentType = r.ReadString(); break;
                    case ResponseTopicTag: p.ResponseTopic = r.ReadString(); break;
                    case CorrelationDataTag:
                        var length = r.Read7BitEncodedInt();
                        var data = r.ReadBytes(length);
                        if (data.Length != length) throw new InvalidDataException("Correlation data is truncated.");
                        p.CorrelationData = data;
                        break;
                    case UserPropertyTag: (p.UserProperties ??= []).Add(new UserProperty(r.ReadString(), r.ReadString())); break;
                    default: throw new InvalidDataException($"Unknown property tag 0x{tag:X2}.");
                }
            }
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("Properties are truncated.", e);
        }
        return p;
    }

    /// <summary>Subscription identifiers as consecutive little-endian uint32; null when there are none.</summary>
    public static byte[]? EncodeSubscriptionIds(IReadOnlyList<uint>? ids)
    {
        if (ids is null || ids.Count == 0) return null;
        var bytes = new byte[ids.Count * 4];
        for (var i = 0; i < ids.Count; i++) BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i * 4), ids[i]);
        return bytes;
    }

    public static IReadOnlyList<uint>? DecodeSubscriptionIds(byte[]? bytes)
    {
        if (bytes is null || bytes.Length == 0) return null;
        if (bytes.Length % 4 != 0) throw new InvalidDataException("Subscription identifiers have a partial entry.");
        var ids = new uint[bytes.Length / 4];
        for (var i = 0; i < ids.Length; i++) ids[i] = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(i * 4));
        return ids;
    }

    /// <summary>Times are stored as Unix milliseconds (UTC).</summary>
    public static long? UnixMilliseconds(DateTimeOffset? time) => time?.ToUnixTimeMilliseconds();

    public static DateTimeOffset? Time(long? unixMilliseconds) =>
        unixMilliseconds is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
}
