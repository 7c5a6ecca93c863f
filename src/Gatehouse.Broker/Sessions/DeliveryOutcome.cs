namespace Gatehouse.Broker.Sessions;

/// <summary>What became of one delivery offered to a session.</summary>
public enum DeliveryOutcome
{
    /// <summary>Queued, sent with a packet id, or treated as delivered (too large for the client [MQTT-3.1.2-25]).</summary>
    Accepted,
    /// <summary>
    /// Sent at QoS 0 to the connected client: handed to its writer, and nothing of it kept by the session (the router
    /// relies on that to reuse the message, see <see cref="Routing.RecycledMessages"/>).
    /// </summary>
    Sent,
    /// <summary>Nothing to deliver to: the session ended, or QoS 0 for an offline client.</summary>
    NotDelivered,
    /// <summary>Refused: the session's queue limit (messages or bytes) was hit. Counted, logged, told to 5.0 publishers.</summary>
    QueueFull,
}
