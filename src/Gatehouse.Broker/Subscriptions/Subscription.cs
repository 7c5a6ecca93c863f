using Gatehouse.Broker.Sessions;
using Gatehouse.Protocol;
using Gatehouse.Storage;

namespace Gatehouse.Broker.Subscriptions;

/// <summary>What the topic tree holds for a filter: one session's subscription, or a shared-subscription group.</summary>
public abstract class RouteTarget
{
}

/// <summary>One session's subscription to one (non-shared or shared) filter.</summary>
public sealed class Subscription : RouteTarget
{
    public Subscription(Session session, string topicFilter, QoS maximumQoS, bool noLocal, bool retainAsPublished,
        byte retainHandling, uint? subscriptionIdentifier)
    {
        Session = session;
        TopicFilter = topicFilter;
        MaximumQoS = maximumQoS;
        NoLocal = noLocal;
        RetainAsPublished = retainAsPublished;
        RetainHandling = retainHandling;
        SubscriptionIdentifier = subscriptionIdentifier;
    }

    public Session Session { get; }
    /// <summary>The filter as subscribed, including any $share/{group}/ prefix.</summary>
    public string TopicFilter { get; }
    public QoS MaximumQoS { get; }
    public bool NoLocal { get; }
    public bool RetainAsPublished { get; }
    public byte RetainHandling { get; }
    public uint? SubscriptionIdentifier { get; }

    public SubscriptionRecord ToRecord() =>
        new(TopicFilter, MaximumQoS, NoLocal, RetainAsPublished, RetainHandling, SubscriptionIdentifier);
}
