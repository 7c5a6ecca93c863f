using Microsoft.Extensions.ObjectPool;

namespace Gatehouse.Protocol.Packets;

/// <summary>
/// Recycles the QoS 0 PUBLISH packets a broker decodes, each with its payload buffer, so that a message passed on to
/// connected subscribers allocates nothing: once routed, the packet is held only by the writers' queues it was put in,
/// and the last writer to have written it returns it here. A packet something else kept (a retained message, a session
/// queue, a store) is never allowed back (<see cref="PublishPacket.AllowRecycling"/>); it is collected as usual.
/// </summary>
public sealed class PublishPacketPool
{
    /// <summary>Payload buffers start at this size, so small payloads of different lengths reuse one buffer.</summary>
    internal const int SmallestPayloadBuffer = 128;

    /// <summary>A larger payload gets a buffer of its own that is not kept: the pool holds at most this much per packet.</summary>
    internal const int LargestKeptPayload = 1024;

    private readonly DefaultObjectPool<PublishPacket> _packets;

    /// <param name="maximumRetained">
    /// Packets kept for reuse. A writer returns a whole batch at once (up to 64 KB of PUBLISH packets), so this is
    /// sized for such a batch of small messages.
    /// </param>
    public PublishPacketPool(int maximumRetained = 4096) => _packets = new DefaultObjectPool<PublishPacket>(new Policy(this), maximumRetained);

    // One packet per thread before the shared pool, which costs an interlocked operation each way: a subscriber's writer
    // mostly runs on the thread that read the message (at the end of its read batch), so the packet it gives back is the
    // one the next PUBLISH read on that thread takes.
    [ThreadStatic] private static PublishPacket? t_cached;

    internal PublishPacket Rent()
    {
        var packet = t_cached;
        if (packet is not null && packet.IsFrom(this)) t_cached = null;
        else packet = _packets.Get();
        packet.OnRented();
        return packet;
    }

    internal void Return(PublishPacket packet)
    {
        packet.ResetForReuse();
        if (t_cached is null) t_cached = packet;
        else _packets.Return(packet);
    }

    private sealed class Policy(PublishPacketPool pool) : IPooledObjectPolicy<PublishPacket>
    {
        public PublishPacket Create() => new(pool);

        // Reset by PublishPacketPool.Return already.
        public bool Return(PublishPacket packet) => true;
    }
}
