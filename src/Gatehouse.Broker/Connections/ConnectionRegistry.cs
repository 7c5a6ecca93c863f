using System.Collections.Concurrent;
using Gatehouse.Broker.Channel;

namespace Gatehouse.Broker.Connections;

/// <summary>The live connections, for keep-alive checks and shutdown.</summary>
public sealed class ConnectionRegistry
{
    private readonly ConcurrentDictionary<MqttChannel, byte> _channels = new();

    public int Count => _channels.Count;

    public IEnumerable<MqttChannel> All => _channels.Keys;

    public void Add(MqttChannel channel) => _channels.TryAdd(channel, 0);

    public void Remove(MqttChannel channel) => _channels.TryRemove(channel, out _);
}
