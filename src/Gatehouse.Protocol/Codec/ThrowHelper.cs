using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Gatehouse.Protocol.Codec;

/// <summary>Throw sites kept out of line so the parsing methods stay small enough to inline.</summary>
internal static class ThrowHelper
{
    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public static void Malformed(string message) => throw MqttProtocolException.Malformed(message);

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public static void ProtocolError(string message) => throw MqttProtocolException.ProtocolError(message);

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public static void Protocol(ReasonCode reasonCode, string message) => throw new MqttProtocolException(reasonCode, message);

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public static void Truncated() => throw MqttProtocolException.Malformed("A field extends beyond the end of the packet.");

    [DoesNotReturn, MethodImpl(MethodImplOptions.NoInlining)]
    public static void Encoding(string message) => throw new ArgumentException(message);
}
