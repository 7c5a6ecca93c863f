using System.Runtime.CompilerServices;
using Gatehouse.Broker.Sessions;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Broker.Routing;

/// <summary>
/// The deliveries of one published message that carry nothing session-specific (no subscription identifier, no share
/// group): at most one per (QoS, Retain), shared by every session that gets that form. A <see cref="Delivery"/> is
/// immutable, so N sessions can queue or send the same one; fan-out to N sessions costs one, not N. With
/// <paramref name="recycled"/> (a recycled <paramref name="decoded"/> packet) the forms are taken from its pools, for
/// <see cref="Recycle"/> to return once routing has shown that nothing kept them.
/// </summary>
internal struct SharedDeliveries(ApplicationMessage message, PublishPacket? decoded, RecycledMessages? recycled)
{
    private Forms _forms;

    public Delivery For(in PlannedDelivery planned)
    {
        if (planned.SubscriptionIdentifiers is not null)
        {
            // The identifiers are this session's own [MQTT-3.3.4-3]: its delivery is its own.
            return new Delivery(message, planned.QoS, planned.Retain, planned.SubscriptionIdentifiers, null);
        }
        ref var slot = ref _forms[(int)planned.QoS * 2 + (planned.Retain ? 1 : 0)];
        if (slot is null)
        {
            slot = recycled is not null
                ? recycled.RentDelivery(message, planned.QoS, planned.Retain)
                : new Delivery(message, planned.QoS, planned.Retain, null, null);
            if (decoded is not null) OutgoingPublish.AdoptDecoded(slot, decoded);
        }
        return slot;
    }

    /// <summary>Returns the forms to the pool they were taken from (only when nothing holds them any more).</summary>
    public void Recycle()
    {
        if (recycled is null) return;
        foreach (ref var slot in _forms)
        {
            // With a pool every form came from it (For); deliveries of one session or group are never kept here.
            if (slot is not null) recycled.Return(slot);
            slot = null;
        }
    }

    [InlineArray(6)]
    private struct Forms
    {
        private Delivery? _first;
    }
}
