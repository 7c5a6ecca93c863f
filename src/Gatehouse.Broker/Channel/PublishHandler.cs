using Gatehouse.Broker.Diagnostics;
using Gatehouse.Broker.Sessions;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Protocol.Topics;
using Gatehouse.Security;
using Gatehouse.Storage;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Broker.Channel;

/// <summary>Inbound PUBLISH (section 3.3) and the receiver's side of the QoS 1/2 flows (sections 4.3.2, 4.3.3).</summary>
internal static class PublishHandler
{
    /// <summary>Routes one PUBLISH; completes synchronously (a ValueTask for the channel's dispatch, no state machine).</summary>
    public static ValueTask HandleAsync(MqttChannel channel, PublishPacket publish)
    {
        var context = channel.Context;
        var options = context.Options;
        var session = channel.Session!;
        BrokerMetrics.Add(ref context.Metrics.PublishReceived);
        var topic = channel.Version == ProtocolVersion.V500 ? channel.ResolveInboundTopic(publish) : publish.Topic;
        if (publish.Properties?.SubscriptionIdentifiers is { Count: > 0 })
        {
            // [MQTT-3.3.4-6] a client's PUBLISH must not carry a Subscription Identifier.
            throw MqttProtocolException.ProtocolError("Subscription Identifier in a client PUBLISH");
        }

        if (topic.Length > options.MaxTopicLength || TopicRules.CountLevels(topic) > options.MaxTopicLevels)
        {
            Reject(channel, publish, ReasonCode.TopicNameInvalid, "topic exceeds the configured length or level limit");
            return ValueTask.CompletedTask;
        }
        if (topic.StartsWith("$SYS", StringComparison.Ordinal))
        {
            // $SYS belongs to the broker; clients may read it but not write it.
            Reject(channel, publish, ReasonCode.NotAuthorized, "clients may not publish to $SYS");
            return ValueTask.CompletedTask;
        }
        if (context.Security is { } security && channel.Principal is { } principal && !security.MayPublish(principal, topic, publish.Retain))
        {
            // Denied (and audited by security): the message goes nowhere, retained or not [MQTT-3.3.5-2].
            Deny(channel, publish, security.DenyPublishAction, topic);
            return ValueTask.CompletedTask;
        }
        if (channel.Principal?.Quota is { } quota && !quota.TryPublish(topic.Length + publish.Payload.Length))
        {
            RateLimited(channel, publish, topic);
            return ValueTask.CompletedTask;
        }
        if (publish.Retain && context.Security is { } retainSecurity && channel.Principal is { } retainer
            && !retainSecurity.TryRetain(retainer, topic, publish.Payload.Length))
        {
            // Over the identity's retained quota (audited): v5 QoS 1/2 PUBACK/PUBREC 0x97; QoS 0 dropped and counted;
            // 3.1.1 QoS 1/2 disconnected (no negative acknowledgement). The message goes nowhere.
            if (publish.QoS == QoS.AtMostOnce) BrokerMetrics.Add(ref context.Metrics.MessagesDropped);
            else Reject(channel, publish, ReasonCode.QuotaExceeded, "retained message quota exceeded");
            return ValueTask.CompletedTask;
        }

        if (publish.QoS == QoS.ExactlyOnce)
        {
            bool duplicate;
            lock (session.Lock)
            {
                duplicate = session.IncomingQoS2.Contains(publish.PacketId);
                if (!duplicate && session.IncomingQoS2.Count >= options.ReceiveMaximum)
                {
                    // [MQTT-3.3.4-7] more unacknowledged QoS 2 PUBLISHes than our Receive Maximum.
                    throw new MqttProtocolException(ReasonCode.ReceiveMaximumExceeded, "receive maximum exceeded");
                }
            }
            if (duplicate)
            {
                // [MQTT-4.3.3-10] the message was already accepted: acknowledge again, deliver nothing new. This PUBREC
                // never says more than the store holds: on the same connection it goes out behind the first one, and a
                // resumed session's CONNACK waited for its session write, which the store commits after the first PUBLISH's.
                channel.Send(new PubRecPacket { PacketId = publish.PacketId });
                return ValueTask.CompletedTask;
            }
        }

        // The clock is read only for a message that expires: reading it is a measurable share of a QoS 0 PUBLISH.
        var expiry = publish.Properties?.MessageExpiryInterval;
        DateTimeOffset? expiresAt = expiry is { } seconds ? context.Now.AddSeconds(seconds) : null;
        ApplicationMessage message;
        if (publish.IsPooled)
        {
            // A recycled QoS 0 packet: its message is reused too, if nothing keeps it (see RecycledMessages).
            message = context.Recycled.RentMessage();
            message.Reuse(topic, publish.Payload, publish.QoS, publish.Retain, ForwardableProperties.From(publish.Properties), expiresAt,
                channel.ClientId, context.NextMessageId());
        }
        else
        {
            message = new ApplicationMessage
            {
                Topic = topic,
                Payload = publish.Payload,
                QoS = publish.QoS,
                Retain = publish.Retain,
                Properties = ForwardableProperties.From(publish.Properties),
                ExpiresAt = expiresAt,
                PublisherClientId = channel.ClientId,
                Id = context.NextMessageId(),
            };
        }

        var barrier = new DurabilityBarrier();
        AcceptedQoS2? accepted = null;
        if (publish.QoS == QoS.ExactlyOnce)
        {
            // The packet id is stored in the same operation as the message's queue entries (the router passes it with
            // them): a crash leaves both or neither, so the PUBLISH a client resends after it is recognised and not
            // routed a second time, or routed because nothing of it survived [MQTT-4.3.3-10]. Separate operations could
            // commit in different batches and a crash between them lost the message behind a known id.
            lock (session.Lock) session.AddIncomingQoS2(publish.PacketId);
            if (session.IsPersistent) accepted = new AcceptedQoS2(session.ClientId, publish.PacketId);
        }
        if (publish.Retain) channel.Broker.Retained.Apply(message, ref barrier);
        var reached = channel.Broker.Router.Publish(message, ref barrier, publish, accepted, out var onlySent);
        // A queue limit refused it for some session: a 5.0 publisher is told (0x97) rather than given a success that
        // would hide the loss; the sessions that took it keep it (a resend is an allowed QoS 1 duplicate for them).
        var reason = barrier.Refused > 0 ? ReasonCode.QuotaExceeded
            : reached == 0 ? ReasonCode.NoMatchingSubscribers
            : ReasonCode.Success;

        // A subscriber this message was queued for is falling behind: the publisher's connection is not read until it
        // has caught up (TCP then slows the publisher), instead of its QoS 0 messages being dropped at the hard limit.
        if (publish.QoS == QoS.AtMostOnce)
        {
            if (publish.IsPooled) Recycle(context, publish, message, reusable: onlySent && !publish.Retain);
            return barrier.Backpressure is { } room ? new ValueTask(room) : ValueTask.CompletedTask;
        }
        if (publish.QoS == QoS.ExactlyOnce && reason >= ReasonCode.UnspecifiedError && channel.Version == ProtocolVersion.V500)
        {
            // A failing PUBREC ends the exchange: no PUBREL will come, so the packet id is free again at once.
            lock (session.Lock) session.RemoveIncomingQoS2(publish.PacketId);
            if (session.IsPersistent) barrier.Add(context.Store.RemoveIncomingQoS2(session.ClientId, publish.PacketId));
        }
        var ackProperties = reason == ReasonCode.QuotaExceeded && channel.RequestProblemInformation
            ? new MqttProperties { ReasonString = $"{barrier.Refused} subscriber queue(s) full; not delivered there" }
            : null;
        MqttPacket ack = publish.QoS == QoS.AtLeastOnce
            ? new PubAckPacket { PacketId = publish.PacketId, ReasonCode = reason, Properties = ackProperties }
            : new PubRecPacket { PacketId = publish.PacketId, ReasonCode = reason, Properties = ackProperties };
        if (barrier.IsEmpty)
        {
            channel.Send(ack);
            return ValueTask.CompletedTask;
        }
        // Acknowledged only once every queue holding it (and, for QoS 2, its packet id) is durable. The writer holds
        // the acknowledgement until then, in order, while this read loop goes on: a publisher's window of messages
        // shares group commits instead of waiting for one commit each [MQTT-4.6.0-2], [MQTT-4.6.0-3].
        channel.Connection.Enqueue(ack, barrier.WhenDurable(), OnStoreFailure);
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Ends this handler's hold on a recycled QoS 0 packet. When routing proved that only writers' queues hold it (and no
    /// retained copy was kept), the message goes back to its pool now and the packet once the last writer has written it;
    /// otherwise both are left to the collector, whoever holds them.
    /// </summary>
    private static void Recycle(BrokerContext context, PublishPacket publish, ApplicationMessage message, bool reusable)
    {
        if (reusable)
        {
            context.Recycled.Return(message);
            publish.AllowRecycling();
        }
        publish.Release();
    }

    /// <summary>
    /// Runs on the writer when the store could not make an accepted PUBLISH durable: it is not acknowledged, so the
    /// client keeps it (a 5.0 client is told why; a 3.1.1 client is disconnected and resends after reconnecting).
    /// </summary>
    /// <remarks>
    /// Static, with what it needs taken from the channel and the held acknowledgement (PUBACK: QoS 1; PUBREC: QoS 2), so
    /// that queueing an acknowledgement allocates no closure.
    /// </remarks>
    private static MqttPacket? OnStoreFailure(MqttChannel channel, MqttPacket heldAck)
    {
        var context = channel.Context;
        var session = channel.Session!;
        var packetId = ((PublishFlowPacket)heldAck).PacketId;
        var qos2 = heldAck is PubRecPacket;
        if (qos2)
        {
            lock (session.Lock) session.RemoveIncomingQoS2(packetId);
            // The id may have committed in an earlier batch than the failure: a new message with it must not look like a resend.
            if (session.IsPersistent) context.Store.RemoveIncomingQoS2(session.ClientId, packetId).Forget();
        }
        channel.Log.LogError("Store unavailable; PUBLISH {PacketId} from {ClientId} not acknowledged", packetId, channel.ClientId);
        BrokerMetrics.Add(ref context.Metrics.MessagesDropped);
        if (channel.Version != ProtocolVersion.V500) return null;
        var properties = channel.RequestProblemInformation
            ? new MqttProperties { ReasonString = "the broker cannot store the message right now" }
            : null;
        return qos2
            ? new PubRecPacket { PacketId = packetId, ReasonCode = ReasonCode.UnspecifiedError, Properties = properties }
            : new PubAckPacket { PacketId = packetId, ReasonCode = ReasonCode.UnspecifiedError, Properties = properties };
    }

    /// <summary>PUBREL releases the packet id [MQTT-4.3.3-11]; PUBCOMP answers it, 0x92 if the id was unknown.</summary>
    public static async ValueTask HandlePubRelAsync(MqttChannel channel, PubRelPacket release)
    {
        var session = channel.Session!;
        bool known;
        lock (session.Lock) known = session.RemoveIncomingQoS2(release.PacketId);
        if (known && session.IsPersistent)
        {
            try
            {
                await channel.Context.Store.RemoveIncomingQoS2(session.ClientId, release.PacketId).ConfigureAwait(false);
            }
            catch (StoreUnavailableException ex)
            {
                // No PUBCOMP: the client resends PUBREL after reconnecting.
                lock (session.Lock) session.AddIncomingQoS2(release.PacketId);
                channel.Log.LogError("Store unavailable; PUBREL from {ClientId} not completed: {Message}", channel.ClientId, ex.Message);
                throw new MqttProtocolException(ReasonCode.UnspecifiedError, "the broker cannot store the release right now");
            }
        }
        channel.Send(new PubCompPacket
        {
            PacketId = release.PacketId,
            ReasonCode = known || channel.Version != ProtocolVersion.V500 ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound,
        });
    }

    /// <summary>
    /// A PUBLISH the client is not authorized for. 5.0 QoS 1/2: PUBACK/PUBREC 0x87 and the connection stays. QoS 0, and
    /// 3.1.1 which cannot be told: [MQTT-3.3.5-2] either a positive acknowledgement (<see cref="DenyPublishAction.Ignore"/>)
    /// or closing the connection (<see cref="DenyPublishAction.Disconnect"/>, the default; DISCONNECT 0x87 for 5.0).
    /// </summary>
    private static void Deny(MqttChannel channel, PublishPacket publish, DenyPublishAction action, string topic)
    {
        if (action == DenyPublishAction.Disconnect || (channel.Version == ProtocolVersion.V500 && publish.QoS != QoS.AtMostOnce))
        {
            Reject(channel, publish, ReasonCode.NotAuthorized, $"not authorized to publish to {topic}");
            return;
        }
        BrokerMetrics.Add(ref channel.Context.Metrics.MessagesDropped);
        if (publish.QoS == QoS.AtLeastOnce) channel.Send(new PubAckPacket { PacketId = publish.PacketId });
        else if (publish.QoS == QoS.ExactlyOnce) channel.Send(new PubRecPacket { PacketId = publish.PacketId });
    }

    /// <summary>
    /// A PUBLISH over the identity's message or byte rate (token buckets, <c>Security:Limits</c>). 5.0 QoS 1/2:
    /// PUBACK/PUBREC 0x96 Message rate too high, the connection stays. QoS 0: dropped and counted — the client is not
    /// told, as for any QoS 0 message the broker cannot deliver, and one fast sensor is not cut off. 3.1.1 QoS 1/2 has no
    /// negative acknowledgement: the connection is closed, so the client resends later instead of losing the message.
    /// </summary>
    private static void RateLimited(MqttChannel channel, PublishPacket publish, string topic)
    {
        var outcome = publish.QoS == QoS.AtMostOnce ? "dropped (QoS 0)"
            : channel.Version == ProtocolVersion.V500 ? "refused with 0x96" : "refused, connection closed (3.1.1)";
        channel.Context.Security?.OnRateLimited(channel.Principal!, topic, outcome);
        if (publish.QoS == QoS.AtMostOnce)
        {
            BrokerMetrics.Add(ref channel.Context.Metrics.MessagesDropped);
            return;
        }
        Reject(channel, publish, ReasonCode.MessageRateTooHigh, "message rate too high");
    }

    /// <summary>
    /// Refuses a PUBLISH the broker will not route. QoS 1/2 on 5.0 get the reason in PUBACK/PUBREC and the connection
    /// stays; otherwise (QoS 0, or 3.1.1 which has no negative acknowledgement) the connection is closed with it.
    /// </summary>
    private static void Reject(MqttChannel channel, PublishPacket publish, ReasonCode reasonCode, string reason)
    {
        BrokerMetrics.Add(ref channel.Context.Metrics.MessagesDropped);
        if (reasonCode == ReasonCode.TopicNameInvalid) channel.Context.Limits.Hit("MaxTopicLength/MaxTopicLevels", $"client {channel.ClientId}: {reason}");
        if (channel.Version == ProtocolVersion.V500 && publish.QoS != QoS.AtMostOnce)
        {
            var properties = channel.RequestProblemInformation ? new MqttProperties { ReasonString = reason } : null;
            channel.Send(publish.QoS == QoS.AtLeastOnce
                ? new PubAckPacket { PacketId = publish.PacketId, ReasonCode = reasonCode, Properties = properties }
                : new PubRecPacket { PacketId = publish.PacketId, ReasonCode = reasonCode, Properties = properties });
            return;
        }
        throw new MqttProtocolException(reasonCode, reason);
    }
}
