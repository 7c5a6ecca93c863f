using Gatehouse.Broker.Diagnostics;
using Gatehouse.Broker.Routing;
using Gatehouse.Broker.Sessions;
using Gatehouse.Broker.Subscriptions;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Protocol.Topics;
using Gatehouse.Storage;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Broker.Channel;

/// <summary>SUBSCRIBE → SUBACK (section 3.8) with retained messages, UNSUBSCRIBE → UNSUBACK (section 3.10).</summary>
internal static class SubscribeHandler
{
    public static async ValueTask HandleSubscribeAsync(MqttChannel channel, SubscribePacket subscribe)
    {
        var context = channel.Context;
        var options = context.Options;
        var session = channel.Session!;
        var router = channel.Broker.Router;
        var v5 = channel.Version == ProtocolVersion.V500;
        var subscriptionId = subscribe.Properties?.SubscriptionIdentifiers is [var id, ..] ? id : (uint?)null;
        var codes = new List<ReasonCode>(subscribe.Subscriptions.Count);
        var retainedFor = new List<Subscription>();
        var barrier = new DurabilityBarrier();
        // Checked before any filter is applied: a malformed one voids the whole packet.
        foreach (var request in subscribe.Subscriptions) RequireWellFormed(request.TopicFilter);

        foreach (var request in subscribe.Subscriptions)
        {
            var filter = request.TopicFilter;
            var share = TopicRules.TryParseShared(filter, out var shareName, out var innerFilter);
            // Well formed but over the broker's limits: refused alone, the packet's other filters go on.
            if (filter.Length > options.MaxTopicLength || TopicRules.CountLevels(innerFilter) > options.MaxTopicLevels)
            {
                codes.Add(v5 ? ReasonCode.TopicFilterInvalid : ReasonCode.UnspecifiedError);
                continue;
            }
            if (share == ShareParse.Shared && request.NoLocal)
            {
                // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error.
                throw MqttProtocolException.ProtocolError("No Local set on a shared subscription");
            }
            if (context.Security is { } security && channel.Principal is { } principal && !security.MaySubscribe(principal, innerFilter))
            {
                // Refused per filter (audited): 0x87 Not authorized in a 5.0 SUBACK (section 3.9.3), 0x80 Failure in
                // 3.1.1 [MQTT-3.9.3-2]. The other filters of the packet are unaffected.
                codes.Add(v5 ? ReasonCode.NotAuthorized : ReasonCode.UnspecifiedError);
                continue;
            }
            Subscription subscription;
            bool existed;
            lock (session.Lock)
            {
                existed = session.Subscriptions.ContainsKey(filter);
                if (!existed && session.Subscriptions.Count >= options.MaxSubscriptionsPerSession)
                {
                    BrokerMetrics.Add(ref context.Metrics.SubscriptionsRejectedLimit);
                    context.Limits.Hit("MaxSubscriptionsPerSession", $"session {session.ClientId} refused a subscription to {filter}");
                    codes.Add(v5 ? ReasonCode.QuotaExceeded : ReasonCode.UnspecifiedError);
                    continue;
                }
                if (!existed && channel.Principal?.Quota is { } quota)
                {
                    if (!quota.TryAddSubscription())
                    {
                        // Identity-wide subscription quota: 0x97 for this filter (0x80 for 3.1.1), audited.
                        context.Security?.OnQuotaExceeded(channel.Principal, $"subscription to {filter} refused: identity holds {quota.Limits.MaxSubscriptions} subscription(s)");
                        codes.Add(v5 ? ReasonCode.QuotaExceeded : ReasonCode.UnspecifiedError);
                        continue;
                    }
                    Interlocked.Increment(ref channel.QuotaSubscriptions);
                }
                subscription = new Subscription(session, filter, request.MaximumQoS, request.NoLocal, request.RetainAsPublished,
                    request.RetainHandling, subscriptionId);
                // A repeated filter replaces the subscription without interrupting the flow [MQTT-3.8.4-3].
                session.SetSubscription(subscription);
                router.Subscribe(subscription, share == ShareParse.Shared ? shareName : null, innerFilter);
            }
            if (session.IsPersistent) barrier.Add(context.Store.SaveSubscription(session.ClientId, subscription.ToRecord()));
            // [MQTT-3.8.4-8] granted QoS = the requested maximum (we support all three).
            codes.Add((ReasonCode)(byte)request.MaximumQoS);
            // Retained messages are not sent to shared subscriptions (section 4.8.2); Retain Handling 1 only for a new
            // subscription, 2 never [MQTT-3.3.1-9], [MQTT-3.3.1-10], [MQTT-3.3.1-11].
            var sendRetained = share == ShareParse.NotShared
                && (request.RetainHandling == 0 || (request.RetainHandling == 1 && !existed));
            if (sendRetained) retainedFor.Add(subscription);
        }

        var subAck = new SubAckPacket { PacketId = subscribe.PacketId, ReasonCodes = codes };
        TaskCompletionSource? releaseSubAck = null;
        if (retainedFor.Count > 0)
        {
            // The retained messages the new subscriptions are owed [MQTT-3.3.1-9] go into the session before SUBACK is
            // released, and SUBACK waits for their queue entries as well as for the subscriptions: once the client has
            // its SUBACK a crash loses neither. SUBACK is queued first and the writer holds it, so they still follow it.
            releaseSubAck = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            channel.Send(subAck, releaseSubAck.Task);
            SendRetained(channel, session, retainedFor, ref barrier);
        }
        // The subscription is durable before SUBACK says so. Only the store: the retained messages may fill the
        // subscriber's own queue, and the room it waits for would come only after this SUBACK.
        try
        {
            await barrier.WhenStored().ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            releaseSubAck?.SetException(ex);
            channel.Log.LogError("Store unavailable; SUBSCRIBE from {ClientId} refused: {Message}", channel.ClientId, ex.Message);
            throw new MqttProtocolException(ReasonCode.UnspecifiedError, "the broker cannot store the subscription right now");
        }
        if (releaseSubAck is null) channel.Send(subAck);
        else releaseSubAck.SetResult();
    }

    /// <summary>
    /// A topic filter that breaks the wildcard rules [MQTT-4.7.1-1] [MQTT-4.7.1-2] or the shared-subscription form
    /// [MQTT-4.8.2-1] [MQTT-4.8.2-2] is a protocol violation: the connection closes (5.0: DISCONNECT 0x82)
    /// [MQTT-4.8.0-1] [MQTT-4.13.1-1]. A SUBACK's 0x8F is for a filter that is "correctly formed but not allowed".
    /// </summary>
    private static void RequireWellFormed(string filter)
    {
        var share = TopicRules.TryParseShared(filter, out _, out _);
        if (share == ShareParse.Invalid || (share == ShareParse.NotShared && !TopicRules.IsValidTopicFilter(filter)))
        {
            throw MqttProtocolException.ProtocolError($"Topic Filter '{filter}' is not well formed");
        }
    }

    public static async ValueTask HandleUnsubscribeAsync(MqttChannel channel, UnsubscribePacket unsubscribe)
    {
        var context = channel.Context;
        var session = channel.Session!;
        var codes = new List<ReasonCode>(unsubscribe.TopicFilters.Count);
        var barrier = new DurabilityBarrier();
        foreach (var filter in unsubscribe.TopicFilters) RequireWellFormed(filter);
        foreach (var filter in unsubscribe.TopicFilters)
        {
            var share = TopicRules.TryParseShared(filter, out var shareName, out var innerFilter);
            bool existed;
            lock (session.Lock)
            {
                existed = session.RemoveSubscription(filter);
                if (existed) channel.Broker.Router.Unsubscribe(session, share == ShareParse.Shared ? shareName : null, innerFilter);
                if (existed && channel.Principal?.Quota is { } quota)
                {
                    Interlocked.Decrement(ref channel.QuotaSubscriptions);
                    quota.AdjustSubscriptions(-1);
                }
            }
            if (existed && session.IsPersistent) barrier.Add(context.Store.DeleteSubscription(session.ClientId, filter));
            // [MQTT-3.11.3-?] 0x11 tells a 5.0 client nothing was there.
            codes.Add(existed ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted);
        }
        // The removal is durable before UNSUBACK [MQTT-3.10.4-4..6].
        try
        {
            await barrier.WhenDurable().ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            channel.Log.LogError("Store unavailable; UNSUBSCRIBE from {ClientId} not confirmed: {Message}", channel.ClientId, ex.Message);
            throw new MqttProtocolException(ReasonCode.UnspecifiedError, "the broker cannot store the change right now");
        }
        channel.Send(new UnsubAckPacket { PacketId = unsubscribe.PacketId, ReasonCodes = codes });
    }

    private static void SendRetained(MqttChannel channel, Session session, List<Subscription> subscriptions, ref DurabilityBarrier barrier)
    {
        var now = channel.Context.Now;
        var matches = new List<ApplicationMessage>();
        foreach (var subscription in subscriptions)
        {
            matches.Clear();
            channel.Broker.Retained.Match(subscription.TopicFilter, now, matches);
            foreach (var message in matches)
            {
                // [MQTT-3.3.1-8] a retained message sent because of a new subscription has RETAIN set.
                var delivery = Router.CreateDelivery(subscription, message, null, retain: true);
                channel.Broker.Router.DeliverAll(message, [(session, delivery)], ref barrier);
            }
        }
    }
}
