namespace Gatehouse.Broker.Diagnostics;

/// <summary>Broker-wide counters, published under $SYS and read by the HTTP API. Updated with Interlocked.</summary>
public sealed class BrokerMetrics
{
    public long ConnectionsCurrent;
    public long ConnectionsTotal;
    public long ClientsConnected;
    public long MessagesReceived;
    public long MessagesSent;
    public long PublishReceived;
    public long PublishSent;
    public long BytesReceived;
    public long BytesSent;
    /// <summary>Messages not delivered to a session because a limit was hit (queue full, packet too large, slow consumer).</summary>
    public long MessagesDropped;
    public long DroppedQueueFull;
    public long DroppedTooLarge;
    public long DroppedSlowConsumer;
    public long DroppedExpired;
    /// <summary>Times a connected client fell behind its high-water mark and its publishers were made to wait.</summary>
    public long BackpressureEpisodes;
    /// <summary>Times such a client took nothing for BackpressureTimeoutMs and was treated as stalled (no longer waited for).</summary>
    public long BackpressureStalls;
    public long ConnectionsRejectedLimit;
    public long ProtocolErrors;
    public long Takeovers;
    public long SubscriptionsRejectedLimit;
    public long WillsPublished;

    public static void Add(ref long counter, long value = 1) => Interlocked.Add(ref counter, value);

    public static long Read(ref long counter) => Interlocked.Read(ref counter);
}
