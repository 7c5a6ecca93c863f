using Gatehouse.Broker.Diagnostics;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Security;
using Gatehouse.Storage;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Broker;

/// <summary>The services every broker component shares. One per broker instance; nothing here is global.</summary>
public sealed class BrokerContext
{
    public BrokerContext(BrokerOptions options, IBrokerStore store, TimeProvider time, ILoggerFactory loggerFactory)
    {
        Options = options;
        Store = store;
        Time = time;
        LoggerFactory = loggerFactory;
        StartedAt = time.GetUtcNow();
        Limits = new LimitReporter(loggerFactory.CreateLogger("Gatehouse.Limits"), time);
        Heap = new HeapLimit(options.HeapLimitBytes, Limits, time);
        ConnectionLog = loggerFactory.CreateLogger("Gatehouse.Connections");
        ChannelLog = loggerFactory.CreateLogger("Gatehouse.Channel");
        _nextMessageId = StartedAt.ToUnixTimeMilliseconds() << 16;
    }

    public BrokerOptions Options { get; }
    public IBrokerStore Store { get; }
    public TimeProvider Time { get; }
    public ILoggerFactory LoggerFactory { get; }
    public BrokerMetrics Metrics { get; } = new();
    public DateTimeOffset StartedAt { get; }
    public LimitReporter Limits { get; }
    /// <summary>The broker-wide memory bound on queueing (see <see cref="BrokerOptions.HeapLimitBytes"/>).</summary>
    public HeapLimit Heap { get; }
    /// <summary>The loggers of every connection and channel, shared here rather than held by each of them.</summary>
    internal ILogger ConnectionLog { get; }
    internal ILogger ChannelLog { get; }
    /// <summary>Authentication and authorization; null = none (every check is skipped with this one null test).</summary>
    public IBrokerSecurity? Security { get; init; }

    public DateTimeOffset Now => Time.GetUtcNow();

    /// <summary>The QoS 0 path's reused packets, messages and deliveries.</summary>
    public Routing.RecycledMessages Recycled { get; } = new();

    /// <summary>Where the read loops decode CONNECTs into; the CONNECT handler gives each back when it is done with it.</summary>
    internal ConnectPacketPool ConnectPackets { get; } = new();

    /// <summary>
    /// The CONNACK properties of a 5.0 connection that needs nothing of its own (no assigned id, granted expiry, keep-alive
    /// or authentication): built once and shared by every such CONNACK, so a connect does not leave a 200-byte object
    /// behind. Read-only once built; the encoder never writes to it.
    /// </summary>
    internal MqttProperties? PlainConnAckProperties;

    /// <summary>The accepted 5.0 CONNACKs carrying <see cref="PlainConnAckProperties"/>, without and with a session present; built once, never written to.</summary>
    internal readonly ConnAckPacket?[] PlainConnAcks = new ConnAckPacket?[2];

    private long _nextMessageId;

    /// <summary>Unique and increasing across restarts (seeded from the clock) so stored message ids never collide.</summary>
    public long NextMessageId() => Interlocked.Increment(ref _nextMessageId);
}
