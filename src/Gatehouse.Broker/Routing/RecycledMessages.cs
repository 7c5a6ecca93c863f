using Gatehouse.Broker.Sessions;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Microsoft.Extensions.ObjectPool;

namespace Gatehouse.Broker.Routing;

/// <summary>
/// The objects of a QoS 0 PUBLISH passed on to connected subscribers, reused so that the message costs no allocation:
/// the decoded packet with its payload (which 3.1.1 subscribers, and 5.0 ones when it has no properties, are sent as it
/// is), the <see cref="ApplicationMessage"/> and its shared <see cref="Delivery"/> forms. One per broker.
/// </summary>
/// <remarks>
/// Reuse is decided per message, after routing, and only on proof: the router counts the sends it made against the
/// packet's writers' queues (<see cref="Router.Publish"/>). A message that anything else kept (a retained copy, a session
/// queue, the store, a PUBLISH built for one recipient) is never reused, and ordinary collection takes it. The message
/// and its deliveries go back at the end of routing; the packet when the last writer has written it.
/// </remarks>
public sealed class RecycledMessages
{
    private readonly ThreadFirstPool<ApplicationMessage> _messages = new(new MessagePolicy());
    private readonly ThreadFirstPool<Delivery> _deliveries = new(new DeliveryPolicy());

    /// <summary>Where the broker's read loops take QoS 0 PUBLISH packets from.</summary>
    public PublishPacketPool Packets { get; } = new();

    internal ApplicationMessage RentMessage() => _messages.Get();

    internal void Return(ApplicationMessage message) => _messages.Return(message);

    internal Delivery RentDelivery(ApplicationMessage message, QoS qos, bool retain)
    {
        var delivery = _deliveries.Get();
        delivery.Reuse(message, qos, retain);
        return delivery;
    }

    internal void Return(Delivery delivery) => _deliveries.Return(delivery);

    /// <summary>
    /// A pool that keeps one object per thread before the shared one, whose every take and return is an interlocked
    /// operation: a message and its deliveries are taken and given back by the thread that routes it, so the usual
    /// message (one form) never reaches the shared pool. What waits in either holds nothing (the policy cleared it).
    /// </summary>
    private sealed class ThreadFirstPool<T>(IPooledObjectPolicy<T> policy) where T : class
    {
        // Only messages being routed are out of the pool: a few per thread at a time.
        private const int Retained = 64;

        [ThreadStatic] private static T? t_cached;
        private readonly DefaultObjectPool<T> _shared = new(policy, Retained);

        public T Get()
        {
            var item = t_cached;
            if (item is null) return _shared.Get();
            t_cached = null;
            return item;
        }

        public void Return(T item)
        {
            if (t_cached is not null)
            {
                _shared.Return(item);
                return;
            }
            policy.Return(item);
            t_cached = item;
        }
    }

    private sealed class MessagePolicy : IPooledObjectPolicy<ApplicationMessage>
    {
        public ApplicationMessage Create() => new() { Topic = "" };

        public bool Return(ApplicationMessage message)
        {
            message.Reuse(null, default, QoS.AtMostOnce, false, null, null, null, 0);
            return true;
        }
    }

    private sealed class DeliveryPolicy : IPooledObjectPolicy<Delivery>
    {
        public Delivery Create() => new();

        public bool Return(Delivery delivery)
        {
            delivery.Reuse(null, QoS.AtMostOnce, false);
            return true;
        }
    }
}
