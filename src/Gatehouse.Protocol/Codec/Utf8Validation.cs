using System.Text;
using System.Text.Unicode;

namespace Gatehouse.Protocol.Codec;

/// <summary>UTF-8 Encoded String rules of section 1.5.4.</summary>
internal static class Utf8Validation
{
    /// <summary>
    /// Well-formed UTF-8 without surrogate code points [MQTT-1.5.4-1] (Utf8.IsValid rejects encoded surrogates,
    /// overlongs and code points above U+10FFFF) and without U+0000 [MQTT-1.5.4-2]. Control characters and
    /// non-characters are only "SHOULD NOT" (section 1.5.4) and are accepted. Decoding keeps a leading 0xEF 0xBB 0xBF
    /// as U+FEFF [MQTT-1.5.4-3].
    /// </summary>
    public static bool IsValidMqttString(ReadOnlySpan<byte> utf8) => utf8.IndexOf((byte)0) < 0 && Utf8.IsValid(utf8);

    public static string Decode(ReadOnlySpan<byte> utf8)
    {
        if (!IsValidMqttString(utf8)) ThrowHelper.Malformed("String is not valid MQTT UTF-8 (ill-formed, surrogate or U+0000).");
        return utf8.IsEmpty ? string.Empty : Encoding.UTF8.GetString(utf8);
    }
}
