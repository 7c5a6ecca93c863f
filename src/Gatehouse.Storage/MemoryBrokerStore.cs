using Gatehouse.Protocol;

namespace Gatehouse.Storage;

/// <summary>
/// The store behind <c>--storage memory</c>: keeps what a durable store would keep, in memory, so a broker restarted
/// in the same process (tests) recovers exactly as it would from disk. Every submission completes at once.
/// </summary>
public sealed class MemoryBrokerStore : IBrokerStore
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, SessionState> _sessions = new(StringComparer.Ordinal);
    private readonly Dictionary<long, (ApplicationMessage Message, int References)> _messages = [];
    private readonly Dictionary<string, ApplicationMessage> _retained = new(StringComparer.Ordinal);

    public ValueTask<StoreSnapshot> LoadAsync(CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var sessions = _sessions.Values.Select(s => new StoredSession(
                s.Record,
                [.. s.Subscriptions.Values],
                [.. s.Deliveries.InOrder],
                [.. s.IncomingQoS2])).ToList();
            var messages = _messages.ToDictionary(m => m.Key, m => m.Value.Message);
            return ValueTask.FromResult(new StoreSnapshot(sessions, messages, [.. _retained.Values]));
        }
    }

    public ValueTask SaveSession(SessionRecord session)
    {
        lock (_lock)
        {
            if (_sessions.TryGetValue(session.ClientId, out var state)) state.Record = session;
            else _sessions[session.ClientId] = new SessionState(session);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask DeleteSession(string clientId)
    {
        lock (_lock)
        {
            if (_sessions.Remove(clientId, out var state))
            {
                foreach (var delivery in state.Deliveries.InOrder) Release(delivery.MessageId);
            }
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask SaveSubscription(string clientId, SubscriptionRecord subscription)
    {
        lock (_lock)
        {
            if (_sessions.TryGetValue(clientId, out var state)) state.Subscriptions[subscription.TopicFilter] = subscription;
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask DeleteSubscription(string clientId, string topicFilter)
    {
        lock (_lock)
        {
            if (_sessions.TryGetValue(clientId, out var state)) state.Subscriptions.Remove(topicFilter);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask Enqueue(ApplicationMessage message, IReadOnlyList<QueuedDeliveryRecord> deliveries, AcceptedQoS2? accepted = null)
    {
        lock (_lock)
        {
            if (accepted is { } id && _sessions.TryGetValue(id.ClientId, out var publisher)) publisher.IncomingQoS2.Add(id.PacketId);
            foreach (var delivery in deliveries)
            {
                if (!_sessions.TryGetValue(delivery.ClientId, out var state)) continue;
                if (!state.Deliveries.TryAdd(new StoredDelivery(delivery, message.Id, 0, DeliveryState.Queued))) continue;
                _messages[message.Id] = _messages.TryGetValue(message.Id, out var held)
                    ? (held.Message, held.References + 1)
                    : (message, 1);
            }
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask UpdateDelivery(string clientId, long messageId, ushort packetId, DeliveryState state)
    {
        lock (_lock)
        {
            if (_sessions.TryGetValue(clientId, out var session)) session.Deliveries.Update(messageId, packetId, state);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask RemoveDelivery(string clientId, long messageId)
    {
        lock (_lock)
        {
            if (_sessions.TryGetValue(clientId, out var session) && session.Deliveries.Remove(messageId)) Release(messageId);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask SaveRetained(ApplicationMessage message)
    {
        lock (_lock) _retained[message.Topic] = message;
        return ValueTask.CompletedTask;
    }

    public ValueTask DeleteRetained(string topic)
    {
        lock (_lock) _retained.Remove(topic);
        return ValueTask.CompletedTask;
    }

    public ValueTask AddIncomingQoS2(string clientId, ushort packetId)
    {
        lock (_lock)
        {
            if (_sessions.TryGetValue(clientId, out var state)) state.IncomingQoS2.Add(packetId);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask RemoveIncomingQoS2(string clientId, ushort packetId)
    {
        lock (_lock)
        {
            if (_sessions.TryGetValue(clientId, out var state)) state.IncomingQoS2.Remove(packetId);
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private void Release(long messageId)
    {
        if (!_messages.TryGetValue(messageId, out var held)) return;
        if (held.References <= 1) _messages.Remove(messageId);
        else _messages[messageId] = (held.Message, held.References - 1);
    }

    private sealed class SessionState(SessionRecord record)
    {
        public SessionRecord Record { get; set; } = record;
        public Dictionary<string, SubscriptionRecord> Subscriptions { get; } = new(StringComparer.Ordinal);
        public DeliveryQueue Deliveries { get; } = new();
        public HashSet<ushort> IncomingQoS2 { get; } = [];
    }

    /// <summary>
    /// One session's deliveries in the order the broker queued them (a shared message moved to this member may carry an
    /// older id), with O(1) add, update and remove by message id: draining a large backlog stays linear.
    /// </summary>
    private sealed class DeliveryQueue
    {
        private readonly LinkedList<StoredDelivery> _order = new();
        private readonly Dictionary<long, LinkedListNode<StoredDelivery>> _byId = [];

        public IEnumerable<StoredDelivery> InOrder => _order;

        public bool TryAdd(StoredDelivery delivery)
        {
            if (_byId.ContainsKey(delivery.MessageId)) return false;
            _byId[delivery.MessageId] = _order.AddLast(delivery);
            return true;
        }

        public void Update(long messageId, ushort packetId, DeliveryState state)
        {
            if (_byId.TryGetValue(messageId, out var node)) node.Value = node.Value with { PacketId = packetId, State = state };
        }

        public bool Remove(long messageId)
        {
            if (!_byId.Remove(messageId, out var node)) return false;
            _order.Remove(node);
            return true;
        }
    }
}
