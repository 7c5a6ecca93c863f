using System.Collections.Concurrent;
using Gatehouse.Broker.Diagnostics;
using Gatehouse.Protocol;

namespace Gatehouse.Broker.Retained;

/// <summary>The retained message of each topic (section 3.3.1.3), persisted through the store.</summary>
public sealed class RetainedMessages(BrokerContext context)
{
    private readonly ConcurrentDictionary<string, ApplicationMessage> _messages = new(StringComparer.Ordinal);
    // Each change to the map and its store submission happen together, so the store sees them in the same order
    // (an expiry sweep can never delete, in the store, a newer message that replaced the expired one).
    private readonly Lock _writeLock = new();

    public int Count => _messages.Count;

    /// <summary>Stores or replaces the topic's retained message; an empty payload deletes it [MQTT-3.3.1-6], [MQTT-3.3.1-7].</summary>
    public void Apply(ApplicationMessage message, ref DurabilityBarrier barrier)
    {
        lock (_writeLock)
        {
            if (message.Payload.IsEmpty)
            {
                if (_messages.TryRemove(message.Topic, out _)) barrier.Add(context.Store.DeleteRetained(message.Topic));
                return;
            }
            _messages[message.Topic] = message;
            barrier.Add(context.Store.SaveRetained(message));
        }
    }

    /// <summary>Loads a message recovered from the store without writing it back.</summary>
    public void Restore(ApplicationMessage message) => _messages[message.Topic] = message;

    /// <summary>Appends the unexpired retained messages matching <paramref name="filter"/>.</summary>
    public void Match(string filter, DateTimeOffset now, List<ApplicationMessage> results)
    {
        if (!Protocol.Topics.TopicRules.ContainsWildcard(filter))
        {
            if (_messages.TryGetValue(filter, out var exact) && !exact.IsExpired(now)) results.Add(exact);
            return;
        }
        foreach (var (topic, message) in _messages)
        {
            if (!message.IsExpired(now) && Protocol.Topics.TopicRules.Matches(filter, topic)) results.Add(message);
        }
    }

    /// <summary>Drops retained messages whose Message Expiry Interval has passed.</summary>
    public int RemoveExpired(DateTimeOffset now)
    {
        var removed = 0;
        foreach (var (topic, message) in _messages)
        {
            if (!message.IsExpired(now)) continue;
            lock (_writeLock)
            {
                if (!_messages.TryRemove(new KeyValuePair<string, ApplicationMessage>(topic, message))) continue;
                context.Store.DeleteRetained(topic).Forget();
            }
            removed++;
        }
        return removed;
    }
}
