namespace Gatehouse.Protocol.Packets;

public sealed class PublishPacket : MqttPacket
{
    // Set only on packets a PublishPacketPool made, for their whole life: what recycling needs, in an object of its own so
    // that every other PUBLISH (QoS 1 and 2, outgoing ones) pays one reference for it.
    private readonly Recycling? _recycling;

    public PublishPacket()
    {
    }

    internal PublishPacket(PublishPacketPool pool) => _recycling = new Recycling(pool);

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

    /// <summary>Whether the packet came from a <see cref="PublishPacketPool"/> (and may go back to it).</summary>
    internal bool IsPooled => _recycling is not null;

    /// <summary>
    /// How many times <see cref="AddSend"/> was called since the packet was decoded: compared by the router with the
    /// sends it made, to know that nothing else took the packet or its payload.
    /// </summary>
    internal int Sends => _recycling?.Sends ?? 0;

    /// <summary>A writer's queue takes the packet; it calls <see cref="Release"/> once the bytes are written.</summary>
    internal void AddSend()
    {
        if (_recycling is not { } recycling) return;
        Interlocked.Increment(ref recycling.Holders);
        // Counted only while the packet is routed, by the routing thread alone (a delivery that another thread could
        // send later was queued, and a queued one keeps the packet whatever this says), so a plain increment.
        recycling.Sends++;
    }

    /// <summary>Whether the packet belongs to <paramref name="pool"/>.</summary>
    internal bool IsFrom(PublishPacketPool pool) => ReferenceEquals(_recycling?.Pool, pool);

    /// <summary>
    /// Lets the packet go back to its pool when its last holder releases it: called by its decoder's owner (which holds
    /// one reference itself until its own <see cref="Release"/>) once it knows the writers' queues are the only holders.
    /// </summary>
    internal void AllowRecycling()
    {
        if (_recycling is { } recycling) Volatile.Write(ref recycling.Allowed, 1);
    }

    /// <summary>One holder is done with the packet (its decoder's owner, or a writer after writing it).</summary>
    internal void Release()
    {
        if (_recycling is not { } recycling) return;
        if (Interlocked.Decrement(ref recycling.Holders) == 0 && Volatile.Read(ref recycling.Allowed) == 1) recycling.Pool.Return(this);
    }

    /// <summary>Copies <paramref name="payload"/> into the packet's own buffer (kept across uses up to a size).</summary>
    internal void CopyPayload(ReadOnlySpan<byte> payload)
    {
        var recycling = _recycling!;
        var buffer = recycling.PayloadBuffer;
        if (buffer is null || buffer.Length < payload.Length)
        {
            buffer = new byte[Math.Max(payload.Length, PublishPacketPool.SmallestPayloadBuffer)];
            if (buffer.Length <= PublishPacketPool.LargestKeptPayload) recycling.PayloadBuffer = buffer;
        }
        payload.CopyTo(buffer);
        Payload = new ReadOnlyMemory<byte>(buffer, 0, payload.Length);
    }

    /// <summary>Taken from its pool: its decoder's owner holds it.</summary>
    internal void OnRented()
    {
        var recycling = _recycling!;
        recycling.Holders = 1;
        recycling.Sends = 0;
        recycling.Allowed = 0;
    }

    /// <summary>Back in the pool: nothing of the last use stays reachable from it but the payload buffer.</summary>
    internal void ResetForReuse()
    {
        Topic = "";
        Payload = default;
        QoS = QoS.AtMostOnce;
        Retain = false;
        Dup = false;
        PacketId = 0;
        Properties = null;
        _topicUtf8Of = null;
        _topicUtf8 = null;
    }

    /// <summary>A pooled packet's pool, payload buffer and holders.</summary>
    private sealed class Recycling(PublishPacketPool pool)
    {
        public readonly PublishPacketPool Pool = pool;
        public byte[]? PayloadBuffer;
        // The decoder's owner and every writer's queue that has the packet and has not written it yet.
        public int Holders;
        public int Sends;
        public int Allowed;
    }
}
