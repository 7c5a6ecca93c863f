using Gatehouse.Broker.Channel;
using Gatehouse.Broker.Sessions;
using Gatehouse.Broker.Subscriptions;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Topics;
using Gatehouse.Storage;

namespace Gatehouse.Broker.Recovery;

/// <summary>Rebuilds sessions, the subscription index, queues and retained messages from a store snapshot.</summary>
internal static class StateRecovery
{
    public readonly record struct Counts(int Sessions, int Subscriptions, int Deliveries, int Retained);

    public static Counts Restore(StoreSnapshot snapshot, MqttBroker broker)
    {
        var context = broker.Context;
        var now = context.Now;
        int subscriptions = 0, deliveries = 0;
        foreach (var stored in snapshot.Sessions)
        {
            var record = stored.Session;
            var session = new Session(context, record.ClientId, record.ProtocolVersion, record.ExpiryIntervalSeconds) { Stored = true };
            // A session that was connected when the broker stopped counts as disconnected from now on.
            session.MarkDisconnected(record.DisconnectedAt ?? now);
            if (record.PendingWill is { } will)
            {
                session.DelayWill(will.Message, will.PublishAt);
            }
            else if (record.ArmedWill is { } armed)
            {
                // Its client was connected when the broker stopped: that connection ended then, without DISCONNECT, so the
                // will goes out after its delay or when the session ends, whichever is first [MQTT-3.1.2-8] [MQTT-3.1.3-9].
                var publishAt = now.AddSeconds(Math.Min(armed.DelaySeconds, record.ExpiryIntervalSeconds));
                session.DelayWill(WillConverter.FromArmed(armed, publishAt), publishAt);
            }
            foreach (var sub in stored.Subscriptions)
            {
                var subscription = new Subscription(session, sub.TopicFilter, sub.MaximumQoS, sub.NoLocal, sub.RetainAsPublished,
                    sub.RetainHandling, sub.SubscriptionIdentifier);
                session.SetSubscription(subscription);
                var share = TopicRules.TryParseShared(sub.TopicFilter, out var shareName, out var filter);
                broker.Router.Subscribe(subscription, share == ShareParse.Shared ? shareName : null, filter);
                subscriptions++;
            }
            foreach (var delivery in stored.Deliveries)
            {
                if (!snapshot.Messages.TryGetValue(delivery.MessageId, out var message)) continue;
                var d = delivery.Delivery;
                var group = d.ShareGroup is { } key && SplitShareKey(key) is var (name, groupFilter)
                    ? broker.Router.FindGroup(name, groupFilter)
                    : null;
                session.Restore(new Delivery(message, d.QoS, d.Retain, d.SubscriptionIdentifiers?.ToList(), group), delivery.PacketId, delivery.State);
                deliveries++;
            }
            foreach (var packetId in stored.IncomingQoS2) session.AddIncomingQoS2(packetId);
            broker.Sessions.Restore(session);
        }
        foreach (var message in snapshot.Retained)
        {
            if (!message.IsExpired(now)) broker.Retained.Restore(message);
        }
        return new Counts(snapshot.Sessions.Count, subscriptions, deliveries, snapshot.Retained.Count);
    }

    private static (string Name, string Filter)? SplitShareKey(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        return slash <= 0 ? null : (key[..slash], key[(slash + 1)..]);
    }
}
