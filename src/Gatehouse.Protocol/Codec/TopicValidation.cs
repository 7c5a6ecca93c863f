namespace Gatehouse.Protocol.Codec;

/// <summary>Topic Name checks the codec makes before decoding the string (filters are judged by the broker).</summary>
internal static class TopicValidation
{
    /// <summary>
    /// No wildcards in a Topic Name [MQTT-3.3.2-2], [MQTT-4.7.3-2 (3.1.1)]. 5.0 peers
    /// are told Topic Name invalid (0x90); 3.1.1 has no reason codes, the packet is treated as malformed.
    /// </summary>
    public static void RequireNoWildcards(ReadOnlySpan<byte> topic, ProtocolVersion version)
    {
        if (topic.IndexOfAny((byte)'+', (byte)'#') < 0) return;
        if (version == ProtocolVersion.V500) ThrowHelper.Protocol(ReasonCode.TopicNameInvalid, "Topic Name contains a wildcard.");
        ThrowHelper.Malformed("Topic Name contains a wildcard.");
    }

    /// <summary>"All Topic Names and Topic Filters MUST be at least one character long" [MQTT-4.7.3-1].</summary>
    public static void RequireNonEmpty(ReadOnlySpan<byte> topic, ProtocolVersion version)
    {
        if (!topic.IsEmpty) return;
        if (version == ProtocolVersion.V500) ThrowHelper.Protocol(ReasonCode.TopicNameInvalid, "Topic Name is empty.");
        ThrowHelper.Malformed("Topic Name is empty.");
    }
}
