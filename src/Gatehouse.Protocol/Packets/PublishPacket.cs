namespace Gatehouse.Protocol.Packets;

public sealed class PublishPacket : MqttPacket
{
    // The UTF-8 form of the topic this packet was given by SetTopic, valid only while Topic is still that very string
    // (a writer replacing the topic by a Topic Alias, or any other assignment, falls back to encoding Topic).
    private string? _topicUtf8Of;
    private byte[]? _topicUtf8;

    public override PacketType Type => PacketType.Publish;

    /// <summary>May be empty in 5.0 when a Topic Alias stands for it.</summary>
    public string Topic { get; set; } = "";
    public ReadOnlyMemory<byte> Payload { get; set; }
    public QoS QoS { get; set; }
    public bool Retain { get; set; }
    public bool Dup { get; set; }
    /// <summary>Zero for QoS 0 (absent on the wire).</summary>
    public ushort PacketId { get; set; }
    public MqttProperties? Properties { get; set; }

    /// <summary>
    /// Sets <see cref="Topic"/> with its UTF-8 form (which must be exactly that), so encoding the packet — once per
    /// recipient when it is shared — copies bytes instead of transcoding the string each time.
    /// </summary>
    public void SetTopic(string topic, byte[] utf8)
    {
        Topic = topic;
        _topicUtf8Of = topic;
        _topicUtf8 = utf8;
    }

    /// <summary>Sets <see cref="Topic"/> to <paramref name="source"/>'s, with its UTF-8 form when that is known.</summary>
    public void CopyTopicFrom(PublishPacket source)
    {
        if (source.TopicUtf8 is { } utf8) SetTopic(source.Topic, utf8);
        else Topic = source.Topic;
    }

    /// <summary>The UTF-8 form of <see cref="Topic"/> when known (see <see cref="SetTopic"/>); null otherwise.</summary>
    internal byte[]? TopicUtf8 => ReferenceEquals(_topicUtf8Of, Topic) ? _topicUtf8 : null;
}
