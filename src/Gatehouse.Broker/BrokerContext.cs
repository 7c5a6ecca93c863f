using Gatehouse.Broker.Diagnostics;
using Gatehouse.Protocol;
using Gatehouse.Security;
using Gatehouse.Storage;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Broker;

/// <summary>The services every broker component shares. One per broker instance; nothing here is global.</summary>
public sealed class BrokerContext(BrokerOptions options, IBrokerStore store, TimeProvider time, ILoggerFactory loggerFactory)
{
    public BrokerOptions Options { get; } = options;
    public IBrokerStore Store { get; } = store;
    public TimeProvider Time { get; } = time;
    public ILoggerFactory LoggerFactory { get; } = loggerFactory;
    public BrokerMetrics Metrics { get; } = new();
    public DateTimeOffset StartedAt { get; } = time.GetUtcNow();
    public LimitReporter Limits { get; } = new(loggerFactory.CreateLogger("Gatehouse.Limits"), time);
    /// <summary>The loggers of every connection and channel, shared here rather than held by each of them.</summary>
    internal ILogger ConnectionLog { get; } = loggerFactory.CreateLogger("Gatehouse.Connections");
    internal ILogger ChannelLog { get; } = loggerFactory.CreateLogger("Gatehouse.Channel");
    /// <summary>Authentication and authorization; null = none (every check is skipped with this one null test).</summary>
    public IBrokerSecurity? Security { get; init; }

    public DateTimeOffset Now => Time.GetUtcNow();

    /// <summary>
    /// The CONNACK properties of a 5.0 connection that needs nothing of its own (no assigned id, granted expiry, keep-alive
    /// or authentication): built once and shared by every such CONNACK, so a connect does not leave a 200-byte object
    /// behind. Read-only once built; the encoder never writes to it.
    /// </summary>
    internal MqttProperties? PlainConnAckProperties;

    private long _nextMessageId = time.GetUtcNow().ToUnixTimeMilliseconds() << 16;

    /// <summary>Unique and increasing across restarts (seeded from the clock) so stored message ids never collide.</summary>
    public long NextMessageId() => Interlocked.Increment(ref _nextMessageId);
}
