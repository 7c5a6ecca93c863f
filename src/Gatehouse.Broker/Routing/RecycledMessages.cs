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
    // Only messages being routed are out of these two pools: a few per thread at a time.
    private const int RetainedPerPool = 64;

    private readonly DefaultObjectPool<ApplicationMessage> _messages = new(new MessagePolicy(), RetainedPerPool);
    private readonly DefaultObjectPool<Delivery> _deliveries = new(new DeliveryPolicy(), RetainedPerPool);

    /// <summary>Where the broker's read loops take QoS 0 PUBLISH packets from.</summary>
    public PublishPacketPool Packets { get; } = new();

    // A message and its deliveries are taken and given back by the thread that routes it: one of each per thread
    // serves the usual message (one form) without the pools' interlocked operations. They hold nothing while there.
    [ThreadStatic] private static ApplicationMessage? t_message;
    [ThreadStatic] private static Delivery? t_delivery;

    internal ApplicationMessage RentMessage()
    {
        var message = t_message;
        if (message is null) return _messages.Get();
        t_message = null;
        return message;
    }

    internal void Return(ApplicationMessage message)
    {
        if (t_message is not null)
        {
            _messages.Return(message);
            return;
        }
        ClearMessage(message);
        t_message = message;
    }

    internal Delivery RentDelivery(ApplicationMessage message, QoS qos, bool retain)
    {
        var delivery = t_delivery;
        if (delivery is null) delivery = _deliveries.Get();
        else t_delivery = null;
        delivery.Reuse(message, qos, retain);
        delivery.Pooled = true;
        return delivery;
    }

    internal void Return(Delivery delivery)
    {
        if (t_delivery is not null)
        {
            _deliveries.Return(delivery);
            return;
        }
        delivery.Reuse(null, QoS.AtMostOnce, false);
        t_delivery = delivery;
    }

    private static void ClearMessage(ApplicationMessage message) => message.Reuse(null, default, QoS.AtMostOnce, false, null, null, null, 0);

    private sealed class MessagePolicy : IPooledObjectPolicy<ApplicationMessage>
    {
        public ApplicationMessage Create() => new() { Topic = "" };

        public bool Return(ApplicationMessage message)
        {
            ClearMessage(message);
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
