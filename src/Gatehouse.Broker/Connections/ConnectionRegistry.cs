using System.Collections.Concurrent;
using Gatehouse.Broker.Channel;
using Gatehouse.Broker.Timers;

namespace Gatehouse.Broker.Connections;

/// <summary>The live connections, for shutdown and $SYS, and the deadlines the housekeeping sweep checks for them.</summary>
public sealed class ConnectionRegistry
{
    private readonly ConcurrentDictionary<MqttChannel, byte> _channels = new();
    public ConnectionRegistry(BrokerContext context)
    {
        var tick = (long)(Housekeeping.Tick.TotalSeconds * context.Time.TimestampFrequency);
        // 1,024 slots of 250 ms: deadlines up to about four minutes ahead wait in their own slot.
        Deadlines = new DeadlineWheel(tick, 1024, context.Time.GetTimestamp());
    }

    public int Count => _channels.Count;

    /// <summary>When each connection's timeouts must next be checked.</summary>
    public DeadlineWheel Deadlines { get; }

    /// <summary>
    /// Every registered connection, enumerated in place: <c>ConcurrentDictionary.Keys</c> would take every lock and copy
    /// all keys.
    /// </summary>
    public IEnumerable<MqttChannel> All
    {
        get
        {
            foreach (var pair in _channels) yield return pair.Key;
        }
    }

    /// <summary>Registers a new connection; its first check is its CONNECT deadline.</summary>
    public void Add(MqttChannel channel)
    {
        _channels.TryAdd(channel, 0);
        Deadlines.Schedule(channel, channel.ConnectDeadline + 1);
    }

    public void Remove(MqttChannel channel)
    {
        _channels.TryRemove(channel, out _);
        Deadlines.Remove(channel);
    }
}
