using Gatehouse.Broker.Subscriptions;
using Gatehouse.Protocol;

namespace Gatehouse.Broker.Routing;

/// <summary>
/// What one session's matching subscriptions make of a message. A struct kept in the router's reused dictionary, so
/// planning allocates nothing unless subscription identifiers have to be collected.
/// </summary>
internal struct PlannedDelivery
{
    public QoS QoS;
    public bool Retain;
    public List<uint>? SubscriptionIdentifiers;

    /// <summary>[MQTT-3.8.3-3] No Local: a subscription never gets messages back from its own session's publisher.</summary>
    public static bool Excludes(Subscription subscription, ApplicationMessage message) =>
        subscription.NoLocal && message.PublisherClientId == subscription.Session.ClientId;

    /// <summary>
    /// Adds one matching subscription. Overlapping subscriptions give one copy at the highest QoS with every
    /// identifier [MQTT-3.3.4-2], [MQTT-3.3.4-3], each listed once: filters subscribed in one SUBSCRIBE share its
    /// identifier, and the same number twice would tell the client nothing more.
    /// </summary>
    public void Merge(Subscription subscription, ApplicationMessage message)
    {
        // The message's QoS downgraded to the subscription's maximum [MQTT-3.8.4-8].
        var qos = (QoS)Math.Min((byte)message.QoS, (byte)subscription.MaximumQoS);
        if (qos > QoS) QoS = qos;
        // [MQTT-3.3.1-12] / [MQTT-3.3.1-13]: Retain As Published keeps the flag, otherwise it is cleared.
        Retain |= subscription.RetainAsPublished && message.Retain;
        if (subscription.SubscriptionIdentifier is not { } id) return;
        SubscriptionIdentifiers ??= [];
        if (!SubscriptionIdentifiers.Contains(id)) SubscriptionIdentifiers.Add(id);
    }
}
