namespace Gatehouse.Broker.Sessions;

/// <summary>
/// A session's QoS 1/2 deliveries waiting for the client's acknowledgement, by packet id, and the counter that orders
/// them as sent (packet ids wrap, so they cannot; only a resend needs the order). The counter lives here rather than in
/// the session: a session that never sends QoS 1/2 has no window and pays for neither.
/// </summary>
internal sealed class InflightWindow : Dictionary<ushort, InflightDelivery>
{
    private long _sent;

    /// <summary>Records <paramref name="delivery"/> as sent with <paramref name="packetId"/>, last in the send order.</summary>
    public InflightDelivery Start(Delivery delivery, ushort packetId)
    {
        var inflight = new InflightDelivery(delivery, packetId) { Sequence = ++_sent };
        this[packetId] = inflight;
        return inflight;
    }
}
