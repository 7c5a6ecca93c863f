using System.Runtime.CompilerServices;
using Gatehouse.Broker.Sessions;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Broker.Routing;

/// <summary>
/// The deliveries of one published message that carry nothing session-specific (no subscription identifier, no share
/// group): at most one per (QoS, Retain), shared by every session that gets that form. A <see cref="Delivery"/> is
/// immutable, so N sessions can queue or send the same one; fan-out to N sessions costs one, not N.
/// </summary>
internal struct SharedDeliveries(ApplicationMessage message, PublishPacket? decoded)
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
            slot = new Delivery(message, planned.QoS, planned.Retain, null, null);
            if (decoded is not null) OutgoingPublish.AdoptDecoded(slot, decoded);
        }
        return slot;
    }

    [InlineArray(6)]
    private struct Forms
    {
        private Delivery? _first;
    }
}
