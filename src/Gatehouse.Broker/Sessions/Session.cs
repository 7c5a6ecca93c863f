using System.Collections.Frozen;
using System.Collections.ObjectModel;
using System.Diagnostics.CodeAnalysis;
using Gatehouse.Broker.Channel;
using Gatehouse.Broker.Connections;
using Gatehouse.Broker.Diagnostics;
using Gatehouse.Broker.Subscriptions;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Security;
using Gatehouse.Storage;

namespace Gatehouse.Broker.Sessions;

/// <summary>
/// The state of one MQTT session (section 4.1): subscriptions, outbound in-flight and queued messages, inbound QoS 2
/// packet ids, and the will waiting for its delay. It outlives connections when its expiry interval is non-zero.
/// All mutable state is guarded by <see cref="Lock"/>; sends to the attached channel happen under it, so the order
/// of PUBLISH packets is the order deliveries were accepted [MQTT-4.6.0-6].
/// </summary>
public sealed class Session
{
    private readonly BrokerContext _context;
    // The collections are created on first use: a session without subscriptions, in-flight or queued messages (an idle
    // clean session) holds none of them. Once created they stay, so a busy session does not allocate them again.
    // A plain dictionary: OrderedDictionary removes in O(n), and acknowledgements remove from the front of a window of up
    // to MaxInflightMessages. The send order, needed only to resend, is kept in InflightDelivery.Sequence.
    // What goes with a collection (the window's send counter, the queue's bytes and backpressure signal) lives in it, so an
    // idle session does not carry those fields either (24 bytes).
    private InflightWindow? _inflight;
    private DeliveryQueue? _queue;
    private Dictionary<string, Subscription>? _subscriptions;
    private HashSet<ushort>? _incomingQoS2;
    private ushort _lastPacketId;
    // UTC ticks, 0 for none: a DateTimeOffset? field takes 24 bytes, a long 8.
    private long _disconnectedAtTicks;
    private DelayedWill? _delayedWill;

    public Session(BrokerContext context, string clientId, ProtocolVersion version, uint expiryInterval)
    {
        _context = context;
        ClientId = clientId;
        ProtocolVersion = version;
        ExpiryInterval = expiryInterval;
    }

    /// <summary>
    /// Guards the session's state. The session itself, locked through <see cref="Monitor"/>: an uncontended monitor lives
    /// in the object header, where a <see cref="System.Threading.Lock"/> would cost every session another 48 bytes.
    /// </summary>
    public object Lock => this;
    public string ClientId { get; }
    public ProtocolVersion ProtocolVersion { get; set; }
    /// <summary>Seconds the session outlives its connection; 0 = ends with it; uint.MaxValue = never expires.</summary>
    public uint ExpiryInterval { get; set; }
    public bool IsPersistent => ExpiryInterval > 0;
    /// <summary>The connection that owns the session: set at CONNECT, before CONNACK; takeovers disconnect it.</summary>
    public MqttChannel? Owner { get; private set; }
    /// <summary>The connection deliveries go to: set once CONNACK has been queued to it.</summary>
    public MqttChannel? Channel { get; private set; }
    public bool IsConnected => Channel is not null;
    /// <summary>Whether the store holds this session (it was persistent at some point), so ending it must delete it there.</summary>
    public bool Stored
    {
        get => AtomicFlags.Has(ref _flags, StoredFlag);
        set => AtomicFlags.Set(ref _flags, StoredFlag, value);
    }
    public DateTimeOffset? DisconnectedAt
    {
        get => FromTicks(_disconnectedAtTicks);
        private set => _disconnectedAtTicks = ToTicks(value);
    }
    /// <summary>The identity that created the session; only it may resume or take it over (null: anonymous).</summary>
    public string? OwnerIdentity { get; set; }
    /// <summary>The owner's principal, for per-delivery read checks while the session is offline too.</summary>
    public ClientPrincipal? Principal { get; set; }
    /// <summary>Set once the session has ended; deliveries to it are refused from then on.</summary>
    public bool Ended
    {
        get => AtomicFlags.Has(ref _flags, EndedFlag);
        private set => AtomicFlags.Set(ref _flags, EndedFlag, value);
    }

    // Stored and Ended share a byte: with two bool fields the session's fields spill one byte into another 8-byte word.
    // They are set under different locks (the session manager's, the session's), hence AtomicFlags.
    private const byte StoredFlag = 1;
    private const byte EndedFlag = 2;
    private byte _flags;
    /// <summary>The subscriptions by topic filter (guarded by <see cref="Lock"/>); change them with <see cref="SetSubscription"/> and <see cref="RemoveSubscription"/>.</summary>
    public IReadOnlyDictionary<string, Subscription> Subscriptions =>
        _subscriptions ?? (IReadOnlyDictionary<string, Subscription>)ReadOnlyDictionary<string, Subscription>.Empty;
    /// <summary>Inbound QoS 2 packet ids between PUBREC and PUBREL [MQTT-4.3.3-9] (guarded by <see cref="Lock"/>).</summary>
    public IReadOnlySet<ushort> IncomingQoS2 => _incomingQoS2 ?? (IReadOnlySet<ushort>)FrozenSet<ushort>.Empty;
    /// <summary>The will waiting for its Will Delay Interval to pass (the connection is gone) [MQTT-3.1.3-9].</summary>
    public ApplicationMessage? PendingWill => _delayedWill?.Message;
    public DateTimeOffset? PendingWillAt => _delayedWill?.PublishAt;

    /// <summary>Holds <paramref name="will"/> until <paramref name="publishAt"/> (the session manager's lock held).</summary>
    public void DelayWill(ApplicationMessage will, DateTimeOffset publishAt) => _delayedWill = new DelayedWill(will, publishAt);

    /// <summary>Takes the stored will out of the session, which is about to publish it (the session manager's lock held).</summary>
    public ApplicationMessage? TakePendingWill()
    {
        var will = _delayedWill?.Message;
        _delayedWill = null;
        return will;
    }

    // Few sessions ever have one (MQTT 5 clients with a Will Delay Interval, while disconnected): an object of its own
    // rather than two fields in every session.
    private sealed record DelayedWill(ApplicationMessage Message, DateTimeOffset PublishAt);

    private static DateTimeOffset? FromTicks(long utcTicks) => utcTicks == 0 ? null : new DateTimeOffset(utcTicks, TimeSpan.Zero);
    private static long ToTicks(DateTimeOffset? at) => at?.UtcTicks ?? 0;

    public int InflightCount { get { lock (Lock) return InflightCountLocked; } }
    public int QueuedCount { get { lock (Lock) return QueuedCountLocked; } }
    private int InflightCountLocked => _inflight?.Count ?? 0;
    private int QueuedCountLocked => _queue?.Count ?? 0;
    private long QueuedBytesLocked => _queue?.Bytes ?? 0;

    /// <summary>When the session ends if no client resumes it; null while connected or if it never expires.</summary>
    public DateTimeOffset? ExpiresAt =>
        DisconnectedAt is { } at && ExpiryInterval != uint.MaxValue ? at.AddSeconds(ExpiryInterval) : null;

    /// <summary>True when a QoS 1/2 delivery would be sent at once rather than queued (shared-subscription balancing).</summary>
    public bool HasWindowRoom => Channel is { } channel && InflightCountLocked < Window(channel);

    /// <summary>
    /// The session as the store keeps it. The will of the connection that owns it goes with it (armed), so that after a
    /// crash the restarted broker still publishes it: the connection closed without DISCONNECT [MQTT-3.1.2-8].
    /// </summary>
    public SessionRecord ToRecord() => new(ClientId, ProtocolVersion, ExpiryInterval, DisconnectedAt,
        PendingWill is null || PendingWillAt is null ? null : new WillRecord(PendingWill, PendingWillAt.Value),
        ArmedWill is { } will ? WillConverter.ToArmed(will, ClientId, _context) : null);

    /// <summary>The will of the owning connection, unless a DISCONNECT has already discarded it [MQTT-3.1.2-10].</summary>
    public WillMessage? ArmedWill => Owner is { Will: { } will, WillSuppressed: false } ? will : null;

    /// <summary>Adds the subscription, or replaces the one with the same topic filter. Caller holds <see cref="Lock"/>.</summary>
    public void SetSubscription(Subscription subscription) =>
        (_subscriptions ??= new Dictionary<string, Subscription>(StringComparer.Ordinal))[subscription.TopicFilter] = subscription;

    /// <summary>Removes the subscription to <paramref name="topicFilter"/>; false if there was none. Caller holds <see cref="Lock"/>.</summary>
    public bool RemoveSubscription(string topicFilter) => _subscriptions is { } subscriptions && subscriptions.Remove(topicFilter);

    /// <summary>Removes every subscription and returns them (null when there were none).</summary>
    internal Dictionary<string, Subscription>? TakeSubscriptions()
    {
        var subscriptions = _subscriptions;
        _subscriptions = null;
        return subscriptions;
    }

    /// <summary>Records an inbound QoS 2 packet id; false if it was already recorded. Caller holds <see cref="Lock"/>.</summary>
    public bool AddIncomingQoS2(ushort packetId) => (_incomingQoS2 ??= []).Add(packetId);

    /// <summary>Forgets an inbound QoS 2 packet id; false if it was not recorded. Caller holds <see cref="Lock"/>.</summary>
    public bool RemoveIncomingQoS2(ushort packetId) => _incomingQoS2 is { } ids && ids.Remove(packetId);

    /// <summary>
    /// Accepts a delivery: sends it now if a client is attached and the in-flight window allows, queues it otherwise.
    /// Returns false when it was dropped (session ended, queue limit, offline QoS 0, too large for the client).
    /// Caller holds no lock.
    /// </summary>
    public DeliveryOutcome Deliver(Delivery delivery) => Deliver(delivery, out _);

    /// <summary>
    /// As <see cref="Deliver(Delivery)"/>; <paramref name="room"/> is set when the message was queued for a connected
    /// client whose queue is past its high-water mark: it completes once the queue is back under the low-water mark
    /// (backpressure for the publisher's acknowledgement).
    /// </summary>
    public DeliveryOutcome Deliver(Delivery delivery, out Task? room)
    {
        room = null;
        lock (Lock)
        {
            if (Ended) return DeliveryOutcome.NotDelivered;
            var channel = Channel;
            if (delivery.QoS == QoS.AtMostOnce)
            {
                if (channel is not null)
                {
                    if (!SendQoS0(channel, delivery)) return DeliveryOutcome.NotDelivered;
                    room = channel.Connection.RoomForPublishers();
                    return DeliveryOutcome.Sent;
                }
                if (!_context.Options.QueueQoS0WhenOffline) return DeliveryOutcome.NotDelivered;
                return TryQueue(delivery) ? DeliveryOutcome.Accepted : DeliveryOutcome.QueueFull;
            }
            if (channel is not null && QueuedCountLocked == 0 && InflightCountLocked < Window(channel))
            {
                return SendInflight(channel, delivery) ? DeliveryOutcome.Accepted : DeliveryOutcome.NotDelivered;
            }
            if (!TryQueue(delivery)) return DeliveryOutcome.QueueFull;
            if (channel is not null && AboveHighWater())
            {
                // A signal that timed out marks a stalled client: nobody waits for it again until its queue has drained.
                var queue = _queue!;
                if (queue.Room is null)
                {
                    queue.Room = new RoomSignal(_context, ClientId);
                    BrokerMetrics.Add(ref _context.Metrics.BackpressureEpisodes);
                }
                if (!queue.Room.Expired) room = queue.Room.Task;
            }
            return DeliveryOutcome.Accepted;
        }
    }

    /// <summary>Makes <paramref name="channel"/> the owner (CONNECT accepted, CONNACK not yet sent). A pending will is cancelled [MQTT-3.1.3-9].</summary>
    public void Claim(MqttChannel channel)
    {
        lock (Lock)
        {
            Owner = channel;
            Channel = null;
            DisconnectedAt = null;
            _delayedWill = null;
        }
    }

    /// <summary>
    /// Starts delivery to the owner: queues CONNACK through <paramref name="sendConnAck"/> first, under the session lock so
    /// no PUBLISH can overtake it, then resends in-flight messages (DUP set, same packet id; PUBREL where PUBREC had
    /// arrived) [MQTT-4.4.0-1] and drains the queue. False when another connection took the session over meanwhile.
    /// </summary>
    public bool Attach(MqttChannel channel, MqttPacket connAck)
    {
        lock (Lock)
        {
            if (!ReferenceEquals(Owner, channel) || Ended) return false;
            channel.Send(connAck);
            Channel = channel;
            var now = _context.Now;
            foreach (var inflight in InflightInSendOrder())
            {
                var packetId = inflight.PacketId;
                if (IsPersistent && inflight.Durable is { IsFaulted: true } or { IsCanceled: true })
                {
                    // Its state never reached the store: submit it again before the resend waits on it.
                    inflight.Durable = Submitted(_context.Store.UpdateDelivery(ClientId, inflight.Delivery.Message.Id, packetId, inflight.State));
                }
                var durable = inflight.Delivery.QoS == QoS.ExactlyOnce ? inflight.Durable : null;
                if (inflight.State == DeliveryState.AwaitingComp)
                {
                    channel.Send(new PubRelPacket { PacketId = packetId }, durable);
                }
                else
                {
                    // [MQTT-3.3.1-1] DUP marks a re-delivery attempt.
                    channel.SendPublishPacket(OutgoingPublish.Create(inflight.Delivery, packetId, dup: true, now, channel.Version), durable);
                }
            }
            Pump(channel);
            return true;
        }
    }

    /// <summary>Detaches the connection if it still owns the session. Returns whether it did.</summary>
    public bool Detach(MqttChannel channel)
    {
        lock (Lock)
        {
            if (!ReferenceEquals(Owner, channel)) return false;
            Owner = null;
            Channel = null;
            ReleaseRoom();
            DisconnectedAt = _context.Now;
            return true;
        }
    }

    /// <summary>Marks the session ended and returns what it still held for shared groups (to go to another member).</summary>
    public List<Delivery>? End()
    {
        lock (Lock)
        {
            Ended = true;
            Owner = null;
            Channel = null;
            ReleaseRoom();
            var orphans = TakeSharedLocked(ending: true);
            _inflight = null;
            _queue = null;
            return orphans;
        }
    }

    /// <summary>
    /// Removes and returns the shared-subscription messages another member can have instead: queued ones (never sent)
    /// and QoS 1 ones sent but not acknowledged, of groups that have another member (a lone member keeps its messages
    /// for when it returns). Sent QoS 2 messages stay with this client [MQTT-4.8.2-4]. The caller removes what it
    /// gives away from the store once the other member has it queued (<see cref="Routing.Router.Redeliver"/>).
    /// </summary>
    public List<Delivery>? TakeUnacknowledgedShared()
    {
        lock (Lock) return TakeSharedLocked(ending: false);
    }

    public void OnPubAck(ushort packetId)
    {
        lock (Lock)
        {
            if (!TryGetInflight(packetId, out var inflight) || inflight.State != DeliveryState.AwaitingAck
                || inflight.Delivery.QoS != QoS.AtLeastOnce) return;
            Complete(packetId, inflight);
        }
    }

    /// <summary>Returns false when the packet id is unknown (the caller answers PUBREL 0x92).</summary>
    public bool OnPubRec(ushort packetId, ReasonCode reasonCode)
    {
        lock (Lock)
        {
            if (!TryGetInflight(packetId, out var inflight) || inflight.Delivery.QoS != QoS.ExactlyOnce) return false;
            if (reasonCode >= ReasonCode.UnspecifiedError)
            {
                // A failing PUBREC ends the exchange: no PUBREL is sent [MQTT-4.3.3-?] (section 4.3.3).
                Complete(packetId, inflight);
                return true;
            }
            if (inflight.State == DeliveryState.AwaitingAck)
            {
                inflight.State = DeliveryState.AwaitingComp;
                if (IsPersistent) inflight.Durable = Submitted(_context.Store.UpdateDelivery(ClientId, inflight.Delivery.Message.Id, packetId, DeliveryState.AwaitingComp));
            }
            // [MQTT-4.3.3-4] PUBREL with the same packet id (also on a duplicate PUBREC), once the PUBREC is durable: the
            // client forgets the packet id at PUBREL, so a session restored from an older state would send the PUBLISH
            // again and the client would deliver it twice.
            Channel?.Send(new PubRelPacket { PacketId = packetId }, inflight.Durable);
            return true;
        }
    }

    public void OnPubComp(ushort packetId)
    {
        lock (Lock)
        {
            if (!TryGetInflight(packetId, out var inflight) || inflight.State != DeliveryState.AwaitingComp) return;
            Complete(packetId, inflight);
        }
    }

    /// <summary>Sets the disconnection time of a session recovered from the store.</summary>
    public void MarkDisconnected(DateTimeOffset at)
    {
        lock (Lock) DisconnectedAt = at;
    }

    /// <summary>Restores a delivery recovered from the store (start-up), preserving its packet id and state.</summary>
    public void Restore(Delivery delivery, ushort packetId, DeliveryState state)
    {
        lock (Lock)
        {
            if (state == DeliveryState.Queued || packetId == 0)
            {
                (_queue ??= new DeliveryQueue()).Add(delivery);
                return;
            }
            (_inflight ??= new InflightWindow()).Start(delivery, packetId).State = state;
            _lastPacketId = packetId;
        }
    }

    private bool TryGetInflight(ushort packetId, [NotNullWhen(true)] out InflightDelivery? inflight)
    {
        inflight = null;
        return _inflight is { } deliveries && deliveries.TryGetValue(packetId, out inflight);
    }

    private void Complete(ushort packetId, InflightDelivery inflight)
    {
        _inflight!.Remove(packetId);
        if (IsPersistent) _context.Store.RemoveDelivery(ClientId, inflight.Delivery.Message.Id).Forget();
        if (Channel is { } channel) Pump(channel);
    }

    private int Window(MqttChannel channel) => Math.Min(channel.ClientReceiveMaximum, _context.Options.MaxInflightMessages);

    private bool TryQueue(Delivery delivery)
    {
        var options = _context.Options;
        if (QueuedCountLocked >= options.MaxQueuedMessages || QueuedBytesLocked + delivery.Message.Payload.Length > options.MaxQueuedBytes)
        {
            return Refuse("MaxQueuedMessages/MaxQueuedBytes",
                $"session {ClientId} holds {QueuedCountLocked} messages, {QueuedBytesLocked} bytes; message on {delivery.Message.Topic} dropped");
        }
        if (!_context.Heap.TryAdmit(delivery.Message.Payload.Length))
        {
            return Refuse("HeapLimitBytes (queueing)", $"message on {delivery.Message.Topic} not queued for session {ClientId}");
        }
        (_queue ??= new DeliveryQueue()).Add(delivery);
        return true;
    }

    /// <summary>A message a queue limit refused: counted as dropped and reported; always false.</summary>
    private bool Refuse(string limit, string detail)
    {
        BrokerMetrics.Add(ref _context.Metrics.DroppedQueueFull);
        BrokerMetrics.Add(ref _context.Metrics.MessagesDropped);
        _context.Limits.Hit(limit, detail);
        return false;
    }

    /// <summary>Sends queued messages while the client's Receive Maximum allows [MQTT-3.3.4-9].</summary>
    private void Pump(MqttChannel channel)
    {
        var window = Window(channel);
        var now = _context.Now;
        var queue = _queue;
        while (queue is { Count: > 0 } && (queue.Peek().QoS == QoS.AtMostOnce || InflightCountLocked < window))
        {
            var delivery = queue.Take();
            if (delivery.Message.IsExpired(now))
            {
                // [MQTT-3.3.2-5] an expired message is not delivered.
                BrokerMetrics.Add(ref _context.Metrics.DroppedExpired);
                if (IsStoredDelivery(delivery)) _context.Store.RemoveDelivery(ClientId, delivery.Message.Id).Forget();
                continue;
            }
            if (delivery.QoS == QoS.AtMostOnce) SendQoS0(channel, delivery);
            else SendInflight(channel, delivery);
        }
        if (queue?.Room is not { } room) return;
        if (BelowLowWater()) ReleaseRoom();
        else room.NoteProgress();
    }

    /// <summary>
    /// Past the high-water mark publishers wait (<see cref="BrokerOptions.BackpressureHighWaterMessages"/>,
    /// <see cref="BrokerOptions.BackpressureHighWaterBytes"/>); under half of it they go on.
    /// </summary>
    private bool AboveHighWater()
    {
        var options = _context.Options;
        return QueuedCountLocked >= options.HighWaterMessages() || QueuedBytesLocked >= options.HighWaterBytes();
    }

    private bool BelowLowWater()
    {
        var options = _context.Options;
        return QueuedCountLocked < Math.Max(1, options.HighWaterMessages() / 2) && QueuedBytesLocked < options.HighWaterBytes() / 2;
    }

    /// <summary>Lets waiting publishers' acknowledgements go (queue drained, or the client left: its queue is an offline backlog now).</summary>
    private void ReleaseRoom()
    {
        if (_queue is not { Room: { } room } queue) return;
        room.Release();
        queue.Room = null;
    }

    /// <summary>
    /// Removes queued messages whose Message Expiry Interval has passed [MQTT-3.3.2-5], from memory and from the store, so
    /// an offline session's queue does not hold them until it reconnects or expires. In-flight messages stay: their
    /// delivery has begun and completes. Returns the number removed.
    /// </summary>
    public int PurgeExpired(DateTimeOffset now)
    {
        lock (Lock)
        {
            if (_queue is not { } queue) return 0;
            var expired = 0;
            foreach (var delivery in queue)
            {
                if (delivery.Message.IsExpired(now)) expired++;
            }
            if (expired == 0) return 0;
            var keep = new Queue<Delivery>(queue.Count - expired);
            foreach (var delivery in queue)
            {
                if (!delivery.Message.IsExpired(now))
                {
                    keep.Enqueue(delivery);
                    continue;
                }
                BrokerMetrics.Add(ref _context.Metrics.DroppedExpired);
                if (IsStoredDelivery(delivery)) _context.Store.RemoveDelivery(ClientId, delivery.Message.Id).Forget();
            }
            queue.Keep(keep);
            return expired;
        }
    }

    /// <summary>Whether the router submitted this delivery to the store (see <c>Router.DeliverAll</c>).</summary>
    private bool IsStoredDelivery(Delivery delivery) =>
        IsPersistent && (delivery.QoS > QoS.AtMostOnce || _context.Options.QueueQoS0WhenOffline);

    private bool SendQoS0(MqttChannel channel, Delivery delivery)
    {
        var sent = channel.SendPublish(delivery, 0, dup: false);
        // With QueueQoS0WhenOffline the router stored it for this persistent session; once sent it is done.
        if (sent && IsStoredDelivery(delivery)) _context.Store.RemoveDelivery(ClientId, delivery.Message.Id).Forget();
        return sent;
    }

    private bool SendInflight(MqttChannel channel, Delivery delivery)
    {
        var packetId = NextPacketId();
        var durable = IsPersistent
            ? Submitted(_context.Store.UpdateDelivery(ClientId, delivery.Message.Id, packetId, DeliveryState.AwaitingAck))
            : null;
        // A QoS 2 PUBLISH leaves only once its packet id is durable (and with it, submitted earlier, its queue entry and
        // the publisher's QoS 2 packet id): after a crash it is resent with the same id and DUP [MQTT-4.4.0-1], which the
        // client recognises, instead of going out under a new id and being delivered twice. QoS 1 may be duplicated.
        if (!channel.SendPublish(delivery, packetId, dup: false, delivery.QoS == QoS.ExactlyOnce ? durable : null))
        {
            // Too large for this client: treated as delivered [MQTT-3.1.2-25].
            if (IsPersistent) _context.Store.RemoveDelivery(ClientId, delivery.Message.Id).Forget();
            return false;
        }
        (_inflight ??= new InflightWindow()).Start(delivery, packetId).Durable = durable;
        return true;
    }

    /// <summary>A submission the caller may wait on (null when already durable); its failure is observed either way.</summary>
    private static Task? Submitted(ValueTask submission)
    {
        if (submission.IsCompletedSuccessfully) return null;
        var task = submission.AsTask();
        new ValueTask(task).Forget();
        return task;
    }

    /// <summary>A packet id not in use by any outbound exchange [MQTT-2.2.1-3].</summary>
    private ushort NextPacketId()
    {
        for (var attempts = 0; attempts < ushort.MaxValue; attempts++)
        {
            _lastPacketId = _lastPacketId == ushort.MaxValue ? (ushort)1 : (ushort)(_lastPacketId + 1);
            if (_inflight is null || !_inflight.ContainsKey(_lastPacketId)) return _lastPacketId;
        }
        throw new InvalidOperationException("No free packet identifier.");
    }

    /// <summary>
    /// In-flight deliveries in the order they were first sent: resends keep it [MQTT-4.6.0-1]. Allocates when there are
    /// any (resends are rare). The dictionary is enumerated directly: its <c>Values</c> would stay cached in it.
    /// </summary>
    private InflightDelivery[] InflightInSendOrder()
    {
        if (_inflight is not { Count: > 0 } inflight) return [];
        var ordered = new InflightDelivery[inflight.Count];
        var i = 0;
        foreach (var (_, delivery) in inflight) ordered[i++] = delivery;
        Array.Sort(ordered, static (a, b) => a.Sequence.CompareTo(b.Sequence));
        return ordered;
    }

    /// <summary>What <see cref="TakeUnacknowledgedShared"/> describes; an ending session gives up all of it (its store rows go with it).</summary>
    /// <returns>Null when there is nothing to give up (most sessions: a disconnect then allocates nothing here).</returns>
    private List<Delivery>? TakeSharedLocked(bool ending)
    {
        List<Delivery>? taken = null;
        foreach (var inflight in InflightInSendOrder())
        {
            var packetId = inflight.PacketId;
            // Only QoS 1 moves once sent: a QoS 2 message already sent is completed with this client when it
            // reconnects, and never sent to another member even if the session ends [MQTT-4.8.2-4], [MQTT-4.8.2-5].
            if (!Movable(inflight.Delivery.ShareGroup, ending) || inflight.Delivery.QoS != QoS.AtLeastOnce
                || inflight.State != DeliveryState.AwaitingAck) continue;
            _inflight!.Remove(packetId);
            (taken ??= []).Add(inflight.Delivery);
        }
        if (_queue is { } queue && AnyMovable(queue, ending))
        {
            var keep = new Queue<Delivery>();
            foreach (var delivery in queue)
            {
                if (!Movable(delivery.ShareGroup, ending)) { keep.Enqueue(delivery); continue; }
                (taken ??= []).Add(delivery);
            }
            queue.Keep(keep);
        }
        return taken;
    }

    private bool AnyMovable(DeliveryQueue queue, bool ending)
    {
        foreach (var delivery in queue)
        {
            if (Movable(delivery.ShareGroup, ending)) return true;
        }
        return false;
    }

    private bool Movable(ShareGroup? group, bool ending) => group is not null && (ending || group.HasMemberOtherThan(this));
}
