using Gatehouse.Broker.Connections;

namespace Gatehouse.Broker.Sessions;

/// <summary>
/// A session's deliveries waiting for room in the client's window (or for the client), oldest first, with their payload
/// bytes (the queue limit and backpressure count them) and, while the queue is above its high-water mark, the signal
/// publishers' acknowledgements wait on. Both live here rather than in the session: a session that never queues has no
/// queue and pays for neither. Add and remove through <see cref="Add"/>, <see cref="Take"/> and <see cref="Keep"/>,
/// which keep <see cref="Bytes"/>.
/// </summary>
internal sealed class DeliveryQueue : Queue<Delivery>
{
    /// <summary>Payload bytes of the queued deliveries.</summary>
    public long Bytes { get; private set; }

    /// <summary>Completed when the queue falls back under the low-water mark; null while nobody waits for that.</summary>
    public RoomSignal? Room { get; set; }

    public void Add(Delivery delivery)
    {
        Enqueue(delivery);
        Bytes += delivery.Message.Payload.Length;
    }

    public Delivery Take()
    {
        var delivery = Dequeue();
        Bytes -= delivery.Message.Payload.Length;
        return delivery;
    }

    /// <summary>Keeps only the deliveries <paramref name="keep"/> holds, in its order (the others were taken out).</summary>
    public void Keep(Queue<Delivery> keep)
    {
        Clear();
        Bytes = 0;
        foreach (var delivery in keep) Add(delivery);
    }
}
