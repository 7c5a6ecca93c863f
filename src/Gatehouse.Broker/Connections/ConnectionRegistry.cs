using System.Collections.Concurrent;
using Gatehouse.Broker.Channel;

namespace Gatehouse.Broker.Connections;

/// <summary>The live connections, for keep-alive checks and shutdown.</summary>
public sealed class ConnectionRegistry
{
    private readonly ConcurrentDictionary<MqttChannel, byte> _channels = new();

    public int Count => _channels.Count;

    /// <summary>
    /// Every registered connection, enumerated in place: <c>ConcurrentDictionary.Keys</c> would take every lock and copy
    /// all keys, which the 250 ms housekeeping sweep would do for each of 100k connections.
    /// </summary>
    public IEnumerable<MqttChannel> All
    {
        get
        {
            foreach (var pair in _channels) yield return pair.Key;
        }
    }

    public void Add(MqttChannel channel) => _channels.TryAdd(channel, 0);

    public void Remove(MqttChannel channel) => _channels.TryRemove(channel, out _);
}
