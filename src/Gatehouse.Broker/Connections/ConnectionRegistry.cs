using Gatehouse.Broker.Channel;
using Gatehouse.Broker.Timers;

namespace Gatehouse.Broker.Connections;

/// <summary>The live connections, for shutdown and $SYS, and the deadlines the housekeeping sweep checks for them.</summary>
/// <remarks>
/// The connections are an intrusive doubly linked list through <see cref="MqttChannel"/> (two fields on the channel)
/// under one lock, not a concurrent set: a <c>ConcurrentDictionary</c> costs a 40-byte node and a bucket per connection,
/// about 54 bytes of every idle connection, to serve what only revocation and shutdown enumerate. Linking and
/// unlinking are a few pointer writes, so connect storms do not queue on the lock.
/// </remarks>
public sealed class ConnectionRegistry
{
    private readonly Lock _lock = new();
    private MqttChannel? _head;
    private int _count;

    public ConnectionRegistry(BrokerContext context)
    {
        var tick = (long)(Housekeeping.Tick.TotalSeconds * context.Time.TimestampFrequency);
        // 1,024 slots of 250 ms: deadlines up to about four minutes ahead wait in their own slot.
        Deadlines = new DeadlineWheel(tick, 1024, context.Time.GetTimestamp());
    }

    public int Count => Volatile.Read(ref _count);

    /// <summary>When each connection's timeouts must next be checked.</summary>
    public DeadlineWheel Deadlines { get; }

    /// <summary>
    /// Every registered connection at the moment of the call (a copy: what is done to each may unregister it). Only
    /// revocation and shutdown ask.
    /// </summary>
    public IReadOnlyList<MqttChannel> All
    {
        get
        {
            lock (_lock)
            {
                var all = new MqttChannel[_count];
                var i = 0;
                for (var channel = _head; channel is not null; channel = channel.RegistryNext) all[i++] = channel;
                return all;
            }
        }
    }

    /// <summary>Registers a new connection; its first check is its CONNECT deadline.</summary>
    public void Add(MqttChannel channel)
    {
        lock (_lock)
        {
            if (IsRegistered(channel)) return;
            channel.RegistryNext = _head;
            if (_head is not null) _head.RegistryPrevious = channel;
            _head = channel;
            _count++;
        }
        Deadlines.Schedule(channel, channel.ConnectDeadline + 1);
    }

    public void Remove(MqttChannel channel)
    {
        lock (_lock)
        {
            if (IsRegistered(channel))
            {
                if (channel.RegistryPrevious is { } previous) previous.RegistryNext = channel.RegistryNext;
                else _head = channel.RegistryNext;
                if (channel.RegistryNext is { } next) next.RegistryPrevious = channel.RegistryPrevious;
                channel.RegistryPrevious = channel.RegistryNext = null;
                _count--;
            }
        }
        Deadlines.Remove(channel);
    }

    // The head has no previous; every other member has one.
    private bool IsRegistered(MqttChannel channel) => channel.RegistryPrevious is not null || ReferenceEquals(_head, channel);
}
