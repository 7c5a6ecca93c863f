using Gatehouse.Broker.Connections;
using Gatehouse.Broker.Diagnostics;
using Gatehouse.Broker.Sessions;
using Gatehouse.Broker.Timers;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;
using Gatehouse.Security;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Broker.Channel;

/// <summary>
/// The MQTT protocol state of one connection: CONNECT handshake, what the client negotiated, topic aliases, keep-alive
/// and the will. Packets arrive one at a time from the connection's read loop; the per-packet work lives in the
/// handlers beside this file.
/// </summary>
/// <remarks>A <see cref="DeadlineEntry"/>: the housekeeping sweep finds it in the broker's deadline wheel when it is due.</remarks>
public sealed class MqttChannel : DeadlineEntry
{
    // This channel's place among the broker's live connections (ConnectionRegistry's list; guarded by its lock).
    internal MqttChannel? RegistryPrevious;
    internal MqttChannel? RegistryNext;

    // What few connections use (topic aliases, enhanced authentication) lives in one object created on first use.
    private Occasional? _occasional;
    // When the last packet arrived; until the CONNACK is written (RestartKeepAlive), when the connection was accepted,
    // which the CONNECT deadline counts from. One field for both: every connection has it.
    private long _lastReceivedTimestamp;
    private int _closedHandled;
    // KeepAliveTimeout in milliseconds, 0 for none: a TimeSpan? field takes 16 bytes, a long 4 more than needed (1.5 x
    // 65,535 s is about 98 million ms).
    private int _keepAliveTimeoutMs;

    /// <remarks>The context and the logger are the broker's (<see cref="Context"/>, <see cref="Log"/>): fields for them would cost every connection 16 bytes.</remarks>
    public MqttChannel(MqttBroker broker, ClientConnection connection)
    {
        Broker = broker;
        Connection = connection;
        _lastReceivedTimestamp = broker.Context.Time.GetTimestamp();
    }

    internal MqttBroker Broker { get; }
    internal BrokerContext Context => Broker.Context;
    internal ClientConnection Connection { get; }
    internal ILogger Log => Broker.Context.ChannelLog;
    /// <summary>The peer's address, for logs. Built on each use (rare) rather than held by every connection.</summary>
    public string RemoteAddress => Connection.Info.RemoteEndPoint?.ToString() ?? "unknown";

    /// <summary>The version negotiated by CONNECT; 3.1.1 framing until then.</summary>
    public ProtocolVersion Version => DecodeVersion ?? ProtocolVersion.V311;
    /// <summary>Null until CONNECT is decoded: the decoder then accepts only CONNECT.</summary>
    public ProtocolVersion? DecodeVersion { get; internal set; }
    public bool IsConnected
    {
        get => HasFlag(ConnectedFlag);
        internal set => SetFlag(ConnectedFlag, value);
    }
    /// <summary>Counted in clients/connected (CONNACK sent); undone exactly once when the connection closes.</summary>
    internal bool CountedAsConnected
    {
        get => HasFlag(CountedFlag);
        set => SetFlag(CountedFlag, value);
    }
    public Session? Session { get; internal set; }
    public string? ClientId { get; internal set; }
    /// <summary>Who the client authenticated as (null when the broker runs without security).</summary>
    public ClientPrincipal? Principal { get; internal set; }

    /// <summary>An enhanced authentication exchange waiting for the client's AUTH before CONNACK (section 4.12).</summary>
    internal ConnectHandler.PendingAuthentication? PendingAuthentication
    {
        get => _occasional?.PendingAuthentication;
        set
        {
            if (value is not null || _occasional is not null) Occasionally.PendingAuthentication = value;
        }
    }

    /// <summary>The Authentication Method this connection authenticated with (null: none; AUTH is then a protocol error).</summary>
    public string? AuthenticationMethod
    {
        get => _occasional?.AuthenticationMethod;
        internal set
        {
            if (value is not null || _occasional is not null) Occasionally.AuthenticationMethod = value;
        }
    }

    /// <summary>The client id this connection counts against its identity's session quota (released on close).</summary>
    internal string? QuotaClientId
    {
        get => _occasional?.QuotaClientId;
        set
        {
            if (value is not null || _occasional is not null) Occasionally.QuotaClientId = value;
        }
    }

    /// <summary>
    /// Subscriptions this connection counts against its identity's quota (released on close). Kept with the other quota
    /// state: a connection under a quota has its <see cref="Occasional"/> part anyway (<see cref="QuotaClientId"/>).
    /// </summary>
    internal ref int QuotaSubscriptions => ref Occasionally.QuotaSubscriptions;
    /// <summary>The client's Receive Maximum: our cap on unacknowledged QoS 1/2 PUBLISHes to it [MQTT-3.3.4-9].</summary>
    public ushort ClientReceiveMaximum { get; internal set; } = ushort.MaxValue;
    /// <summary>The client's Maximum Packet Size; larger packets are not sent to it [MQTT-3.1.2-24].</summary>
    public uint ClientMaximumPacketSize { get; internal set; } = uint.MaxValue;
    public ushort ClientTopicAliasMaximum { get; internal set; }
    public bool RequestProblemInformation
    {
        get => !HasFlag(NoProblemInformationFlag);
        internal set => SetFlag(NoProblemInformationFlag, !value);
    }
    /// <summary>1.5 × Keep Alive [MQTT-3.1.2-24]; null when keep-alive is off.</summary>
    public TimeSpan? KeepAliveTimeout
    {
        get => _keepAliveTimeoutMs == 0 ? null : TimeSpan.FromMilliseconds(_keepAliveTimeoutMs);
        internal set => _keepAliveTimeoutMs = value is { } timeout ? (int)Math.Clamp(Math.Ceiling(timeout.TotalMilliseconds), 1, int.MaxValue) : 0;
    }
    internal WillMessage? Will { get; set; }
    /// <summary>Set by a normal DISCONNECT: the will is discarded [MQTT-3.1.2-10].</summary>
    internal bool WillSuppressed
    {
        get => HasFlag(WillSuppressedFlag);
        set => SetFlag(WillSuppressedFlag, value);
    }
    /// <summary>The client connected with a session expiry interval of 0: a DISCONNECT may not raise it [MQTT-3.14.2-2].</summary>
    internal bool ConnectedWithoutExpiry
    {
        get => HasFlag(WithoutExpiryFlag);
        set => SetFlag(WithoutExpiryFlag, value);
    }

    // The yes/no state above in one byte (five bool fields, with the version once, spilled into another 8-byte word).
    // Set by the read loop and by whoever closes the connection, hence AtomicFlags.
    private const byte ConnectedFlag = 1;
    private const byte CountedFlag = 2;
    private const byte NoProblemInformationFlag = 4;
    private const byte WillSuppressedFlag = 8;
    private const byte WithoutExpiryFlag = 16;
    private byte _flags;

    private bool HasFlag(byte flag) => AtomicFlags.Has(ref _flags, flag);
    private void SetFlag(byte flag, bool on) => AtomicFlags.Set(ref _flags, flag, on);

    public TimeSpan SinceLastReceived => Context.Time.GetElapsedTime(Interlocked.Read(ref _lastReceivedTimestamp));

    /// <summary>
    /// Starts the keep-alive period again now, as if a packet had just been received (the CONNACK was written), and has
    /// the connection's deadlines checked from now on instead of its CONNECT deadline.
    /// </summary>
    internal void RestartKeepAlive()
    {
        var now = Context.Time.GetTimestamp();
        Interlocked.Exchange(ref _lastReceivedTimestamp, now);
        if (NextCheck(now, Context.Now) is { } due) Broker.Connections.Deadlines.Schedule(this, due);
        else Broker.Connections.Deadlines.Remove(this);
    }

    /// <summary>
    /// Starts the keep-alive period again now: a packet arrived, or the read loop stops waiting and reads what came
    /// meanwhile. Not before the client is connected: until then the timestamp is the accept time, and the CONNECT (with
    /// any authentication exchange) must complete within ConnectTimeoutSeconds of it.
    /// </summary>
    internal void NoteReceived()
    {
        if (IsConnected) Interlocked.Exchange(ref _lastReceivedTimestamp, Context.Time.GetTimestamp());
    }

    /// <summary>Handles one decoded packet. Protocol violations throw <see cref="MqttProtocolException"/>.</summary>
    public ValueTask HandleAsync(MqttPacket packet)
    {
        NoteReceived();
        if (!IsConnected)
        {
            if (PendingAuthentication is not null) return HandleDuringAuthentication(packet);
            // [MQTT-3.1.0-1] the first packet must be CONNECT; the decoder already refused anything else.
            return packet is ConnectPacket connect ? ConnectHandler.HandleAsync(this, connect) : ValueTask.CompletedTask;
        }
        switch (packet)
        {
            case PublishPacket publish:
                return PublishHandler.HandleAsync(this, publish);
            case PubAckPacket ack:
                Session!.OnPubAck(ack.PacketId);
                break;
            case PubRecPacket rec:
                if (!Session!.OnPubRec(rec.PacketId, rec.ReasonCode))
                {
                    Send(new PubRelPacket { PacketId = rec.PacketId, ReasonCode = ReasonCode.PacketIdentifierNotFound });
                }
                break;
            case PubRelPacket rel:
                return PublishHandler.HandlePubRelAsync(this, rel);
            case PubCompPacket comp:
                Session!.OnPubComp(comp.PacketId);
                break;
            case SubscribePacket subscribe:
                return SubscribeHandler.HandleSubscribeAsync(this, subscribe);
            case UnsubscribePacket unsubscribe:
                return SubscribeHandler.HandleUnsubscribeAsync(this, unsubscribe);
            case PingReqPacket:
                // [MQTT-3.12.4-1]
                Send(PingRespPacket.Instance);
                break;
            case DisconnectPacket disconnect:
                HandleDisconnect(disconnect);
                break;
            case ConnectPacket:
                // [MQTT-3.1.0-2] a second CONNECT is a protocol violation.
                throw MqttProtocolException.ProtocolError("second CONNECT");
            case AuthPacket:
                // Without a method in CONNECT, AUTH is a protocol error [MQTT-4.12.0-7]. Re-authentication (AUTH 0x19,
                // section 4.12.1) is not offered: DISCONNECT 0x8C, the client reconnects to authenticate again.
                if (AuthenticationMethod is null) throw MqttProtocolException.ProtocolError("AUTH without an authentication method");
                throw new MqttProtocolException(ReasonCode.BadAuthenticationMethod, "re-authentication is not supported");
            default:
                throw MqttProtocolException.ProtocolError($"{packet.Type} is not sent by clients");
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Between CONNECT with an Authentication Method and CONNACK the client may send only AUTH and DISCONNECT
    /// [MQTT-4.12.0-5]; anything else (a second CONNECT included, [MQTT-3.1.0-2]) is a protocol error (CONNACK 0x82).
    /// </summary>
    private ValueTask HandleDuringAuthentication(MqttPacket packet)
    {
        switch (packet)
        {
            case AuthPacket auth:
                return ConnectHandler.HandleAuthAsync(this, auth);
            case DisconnectPacket:
                PendingAuthentication = null;
                Connection.Close();
                return ValueTask.CompletedTask;
            default:
                throw MqttProtocolException.ProtocolError($"{packet.Type} during the authentication exchange");
        }
    }

    public void Send(MqttPacket packet) => Connection.Enqueue(packet);

    /// <summary>Sends <paramref name="packet"/> once <paramref name="durable"/> (a store submission) has completed; in order with everything else.</summary>
    public void Send(MqttPacket packet, Task? durable) => Connection.Enqueue(packet, durable);

    /// <summary>
    /// Sends one delivery. Returns false when it was not sent: larger than the client's Maximum Packet Size (dropped as
    /// if delivered [MQTT-3.1.2-25]) or, for QoS 0, the client is too slow.
    /// </summary>
    public bool SendPublish(Delivery delivery, ushort packetId, bool dup, Task? durable = null)
    {
        var packet = OutgoingPublish.Create(delivery, packetId, dup, Context.Time, Version, rewritesTopics: ClientTopicAliasMaximum != 0);
        // +3 leaves room for a Topic Alias property the writer may add.
        if (ClientMaximumPacketSize != uint.MaxValue && PacketWriter.GetSize(packet, Version) + 3 > ClientMaximumPacketSize)
        {
            BrokerMetrics.Add(ref Context.Metrics.DroppedTooLarge);
            BrokerMetrics.Add(ref Context.Metrics.MessagesDropped);
            Context.Limits.Hit("client Maximum Packet Size",
                $"message on {packet.Topic} is larger than the {ClientMaximumPacketSize} bytes client {ClientId} accepts; not sent");
            return false;
        }
        return packetId == 0 ? Connection.EnqueueDroppable(packet) : Connection.Enqueue(packet, durable);
    }

    public void SendPublishPacket(PublishPacket packet, Task? durable = null) => Connection.Enqueue(packet, durable);

    /// <summary>
    /// Replaces a repeated topic by a Topic Alias when the client allows aliases [MQTT-3.3.2-?] (section 3.3.2.3.4).
    /// Runs on the writer, in wire order, so an alias is always defined before it is used.
    /// </summary>
    internal void ApplyOutboundTopicAlias(PublishPacket packet)
    {
        if (Version != ProtocolVersion.V500 || ClientTopicAliasMaximum == 0) return;
        var aliases = Occasionally.OutboundAliases ??= new Dictionary<string, ushort>(StringComparer.Ordinal);
        if (aliases.TryGetValue(packet.Topic, out var alias))
        {
            (packet.Properties ??= new MqttProperties()).TopicAlias = alias;
            packet.Topic = "";
            return;
        }
        var limit = Math.Min(ClientTopicAliasMaximum, Context.Options.OutboundTopicAliasMaximum);
        if (aliases.Count >= limit) return;
        alias = (ushort)(aliases.Count + 1);
        aliases[packet.Topic] = alias;
        (packet.Properties ??= new MqttProperties()).TopicAlias = alias;
    }

    /// <summary>Resolves an inbound Topic Alias (section 3.3.2.3.4). Returns the topic, or throws 0x94 / 0x82.</summary>
    internal string ResolveInboundTopic(PublishPacket packet)
    {
        if (packet.Properties?.TopicAlias is not { } alias) return packet.Topic;
        // [MQTT-3.3.2-8] / [MQTT-3.3.2-9]: 0 and values above our Topic Alias Maximum are invalid.
        if (alias == 0 || alias > Context.Options.TopicAliasMaximum)
        {
            throw new MqttProtocolException(ReasonCode.TopicAliasInvalid, $"topic alias {alias} out of range");
        }
        var aliases = Occasionally.InboundAliases ??= new string?[Context.Options.TopicAliasMaximum + 1];
        if (packet.Topic.Length > 0)
        {
            aliases[alias] = packet.Topic;
            return packet.Topic;
        }
        return aliases[alias] ?? throw MqttProtocolException.ProtocolError($"topic alias {alias} is not defined");
    }

    /// <summary>Server-initiated disconnect: DISCONNECT with the reason for 5.0 clients [MQTT-4.13.2-1], then close.</summary>
    public void DisconnectByServer(ReasonCode reasonCode)
    {
        if (IsConnected && Version == ProtocolVersion.V500)
        {
            Send(new DisconnectPacket { ReasonCode = reasonCode });
        }
        Log.LogDebug("Disconnecting {ClientId} ({Remote}): {Reason}", ClientId, RemoteAddress, reasonCode);
        Connection.CloseWithLinger();
    }

    /// <summary>The decoder or a handler found a violation: 0x81/0x82/... to a 5.0 client, then close [MQTT-4.13.1-1].</summary>
    public void OnProtocolViolation(MqttProtocolException ex)
    {
        BrokerMetrics.Add(ref Context.Metrics.ProtocolErrors);
        Log.LogInformation("Protocol violation from {ClientId} ({Remote}): {Reason} {Message}", ClientId ?? "-", RemoteAddress,
            ex.ReasonCode, ex.Message);
        if (!IsConnected && (ex.ConnectVersion ?? DecodeVersion) == ProtocolVersion.V500)
        {
            // During CONNECT a 5.0 client learns the reason from CONNACK [MQTT-4.13.1-1]. (The version is the decoder's
            // too, which is moot: nothing more is read from a connection closing for a violation.)
            DecodeVersion = ProtocolVersion.V500;
            Send(new ConnAckPacket { ReasonCode = ex.ReasonCode });
        }
        else if (!IsConnected && ex.ReasonCode == ReasonCode.UnsupportedProtocolVersion)
        {
            // [MQTT-3.1.2-2] CONNACK return code 0x01 for a protocol level we do not speak, in 3.1.1 form.
            DecodeVersion = ProtocolVersion.V311;
            Send(new ConnAckPacket { ReasonCode = ReasonCode.UnsupportedProtocolVersion });
        }
        DisconnectByServer(ex.ReasonCode);
    }

    /// <summary>
    /// Closes the connection if a deadline passed: no CONNECT in time, no packet within 1.5 × Keep Alive, the token it
    /// authenticated with expired. Otherwise returns when to check again (a timestamp), or null when nothing is left to
    /// check (or it is closing).
    /// </summary>
    internal long? CheckTimeouts(long nowTimestamp, DateTimeOffset now)
    {
        if (Connection.IsClosing) return null;
        if (!IsConnected)
        {
            var connectDue = ConnectDeadline;
            if (nowTimestamp > connectDue)
            {
                Log.LogDebug("No CONNECT from {Remote} within {Deadline}", RemoteAddress, TimeSpan.FromSeconds(Context.Options.ConnectTimeoutSeconds));
                Connection.Close();
                return null;
            }
            // Connecting (an authentication or the store still working): looked at again at the deadline.
            return connectDue + 1;
        }
        if (nowTimestamp > KeepAliveDeadline && Connection.IsReadPaused)
        {
            // Not read because of backpressure: what the client sent meanwhile waits in the socket. Looked at again next tick.
            return nowTimestamp + 1;
        }
        if (nowTimestamp > KeepAliveDeadline)
        {
            // [MQTT-3.1.2-22] no packet within 1.5 × Keep Alive: the connection is closed, the will published.
            DisconnectByServer(ReasonCode.KeepAliveTimeout);
            return null;
        }
        if (Principal?.ValidUntil is { } validUntil && now > validUntil)
        {
            // The token the client authenticated with has expired: it may not go on acting on it (re-authentication is
            // not offered, so the client reconnects with a fresh token). 0x87 Not authorized, as a refused CONNECT.
            Log.LogInformation("Disconnecting {ClientId} ({Remote}): its token expired at {ValidUntil:O}", ClientId, RemoteAddress, validUntil);
            DisconnectByServer(ReasonCode.NotAuthorized);
            return null;
        }
        return NextCheck(nowTimestamp, now);
    }

    /// <summary>When a connected client's keep-alive or token runs out next (+1 tick: checked once it has passed); null for never.</summary>
    private long? NextCheck(long nowTimestamp, DateTimeOffset now)
    {
        var due = KeepAliveDeadline + 1;
        if (Principal?.ValidUntil is { } validUntil)
        {
            var tokenDue = nowTimestamp + ToTimestamp(validUntil - now) + 1;
            due = due is { } d ? Math.Min(d, tokenDue) : tokenDue;
        }
        return due;
    }

    /// <summary>The timestamp after which a connection without CONNECT is closed.</summary>
    internal long ConnectDeadline => Interlocked.Read(ref _lastReceivedTimestamp) + ToTimestamp(TimeSpan.FromSeconds(Context.Options.ConnectTimeoutSeconds));

    /// <summary>The timestamp after which a connected client that sent nothing is closed; null when keep-alive is off.</summary>
    private long? KeepAliveDeadline => _keepAliveTimeoutMs == 0 ? null
        : Interlocked.Read(ref _lastReceivedTimestamp) + ToTimestamp(TimeSpan.FromMilliseconds(_keepAliveTimeoutMs));

    private long ToTimestamp(TimeSpan span) => (long)(span.TotalSeconds * Context.Time.TimestampFrequency);

    /// <summary>The connection is gone: hand the session and the will to the session manager.</summary>
    internal void OnConnectionClosed()
    {
        if (Interlocked.Exchange(ref _closedHandled, 1) != 0) return;
        Broker.Connections.Remove(this);
        if (CountedAsConnected) BrokerMetrics.Add(ref Context.Metrics.ClientsConnected, -1);
        if (Principal?.Quota is { } quota)
        {
            // Subscriptions first: a connection admitted once the session is released finds them released too.
            quota.AdjustSubscriptions(_occasional is { } occasional ? -Interlocked.Exchange(ref occasional.QuotaSubscriptions, 0) : 0);
            if (QuotaClientId is { } quotaClientId) quota.ReleaseSession(quotaClientId);
        }
        if (Session is not { } session) return;
        var will = WillSuppressed || Broker.IsShuttingDown ? null : Will;
        var willDelay = will?.Properties?.WillDelayInterval ?? 0;
        var message = will is null ? null : WillConverter.ToMessage(will, ClientId!, Context, willDelay);
        Broker.Sessions.Disconnected(this, session, message, willDelay);
    }

    private void HandleDisconnect(DisconnectPacket disconnect)
    {
        if (Version == ProtocolVersion.V500 && disconnect.Properties?.SessionExpiryInterval is { } expiry && Session is { } session)
        {
            if (ConnectedWithoutExpiry && expiry != 0)
            {
                throw MqttProtocolException.ProtocolError("session expiry set on DISCONNECT after connecting with 0");
            }
            session.ExpiryInterval = Math.Min(expiry, Context.Options.MaxSessionExpiryInterval);
        }
        // [MQTT-3.14.4-3] a normal disconnect discards the will; 0x04 asks for it to be published.
        WillSuppressed = disconnect.ReasonCode != ReasonCode.DisconnectWithWillMessage;
        Connection.Close();
    }

    /// <summary>
    /// Created once, race-free: the writer (outbound aliases) and the read loop (inbound aliases, authentication) may
    /// both be first; each then uses only its own fields of it.
    /// </summary>
    private Occasional Occasionally =>
        _occasional ?? Interlocked.CompareExchange(ref _occasional, new Occasional(), null) ?? _occasional;

    private sealed class Occasional
    {
        public string?[]? InboundAliases;
        public Dictionary<string, ushort>? OutboundAliases;
        public ConnectHandler.PendingAuthentication? PendingAuthentication;
        public string? AuthenticationMethod;
        public string? QuotaClientId;
        public int QuotaSubscriptions;
    }
}
