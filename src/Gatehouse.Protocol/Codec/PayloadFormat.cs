using System.Text.Unicode;

namespace Gatehouse.Protocol.Codec;

internal static class PayloadFormat
{
    /// <summary>
    /// Payload Format Indicator 1 means "UTF-8 Encoded Character Data"; a payload that is not well-formed UTF-8 is
    /// answered with Payload format invalid (0x99) (sections 3.3.2.3.2 and 3.1.3.2.3). The broker relies on this check.
    /// </summary>
    public static void Validate(MqttProperties? properties, ReadOnlySpan<byte> payload)
    {
        if (properties?.PayloadFormatIndicator == 1 && !Utf8.IsValid(payload))
        {
            ThrowHelper.Protocol(ReasonCode.PayloadFormatInvalid, "Payload is not valid UTF-8 although the Payload Format Indicator says so.");
        }
    }
}
