namespace Gatehouse.Broker;

/// <summary>
/// Broker limits and behaviour. Bound from the "Broker" configuration section; every limit is reported when hit
/// (reason code to the client, a log line, a $SYS counter).
/// </summary>
public sealed class BrokerOptions
{
    /// <summary>
    /// Concurrent network connections; further ones get CONNACK 0x89/0x03 and are closed. The host lowers it to what the
    /// process's open-file limit can carry (logged at start-up), so the default is set by that limit in practice.
    /// </summary>
    public int MaxConnections { get; set; } = 1_000_000;

    /// <summary>Largest packet accepted from a client, fixed header included (0x95 beyond). Also announced in CONNACK.</summary>
    public uint MaxPacketSize { get; set; } = 1024 * 1024;

    /// <summary>Upper bound for the client's keep-alive; a v5 client asking for more (or 0) is told Server Keep Alive. 0 = no bound.</summary>
    public ushort MaxKeepAliveSeconds { get; set; }

    /// <summary>How long a new socket may take to send CONNECT.</summary>
    public int ConnectTimeoutSeconds { get; set; } = 10;

    /// <summary>Unacknowledged inbound QoS 1/2 PUBLISHes a client may have open (our Receive Maximum); 0x93 beyond.</summary>
    public ushort ReceiveMaximum { get; set; } = 1024;

    /// <summary>Cap on outbound unacknowledged QoS 1/2 messages per session, on top of the client's Receive Maximum.</summary>
    public int MaxInflightMessages { get; set; } = 1024;

    /// <summary>Messages queued for a session beyond its in-flight window (offline, or window full); counted drops beyond.</summary>
    public int MaxQueuedMessages { get; set; } = 1_000_000;

    /// <summary>Payload bytes queued per session; counted drops beyond.</summary>
    public long MaxQueuedBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// Managed heap size past which no message is queued for any session (offline, or beyond its in-flight window):
    /// the bound on the sum of all sessions' queues, which the per-session limits do not give. Refusals are counted and
    /// reported as a full queue's are (a 5.0 publisher gets 0x97). 0 = 75 % of the memory available to the process
    /// (physical memory, or the container's limit).
    /// </summary>
    public long HeapLimitBytes { get; set; }

    /// <summary>
    /// Backpressure on publishers: when a connected client falls behind (see <see cref="BackpressureHighWaterMessages"/>
    /// and <see cref="BackpressureHighWaterBytes"/>), publishers whose messages are queued for it wait until it has caught
    /// up. A client that takes nothing for this many milliseconds is treated as stalled: the publishers go on and nobody
    /// waits for it again until it has drained (a slow client that keeps taking messages paces its publishers). 0 disables
    /// the wait (the hard limits still apply).
    /// </summary>
    public int BackpressureTimeoutMs { get; set; } = 1000;

    /// <summary>
    /// A connected client's session queue (QoS 1/2 messages beyond its in-flight window) past this many messages (at most
    /// half of <see cref="MaxQueuedMessages"/>) holds the PUBACK/PUBREC of each further message queued for it, until the
    /// queue is back under half of the mark. 0 = only the byte mark applies.
    /// </summary>
    public int BackpressureHighWaterMessages { get; set; } = 5_000;

    /// <summary>
    /// Bytes of payload (at most half of <see cref="MaxQueuedBytes"/>) past which a connected client counts as falling
    /// behind: in its session queue, or waiting to be written to its socket (QoS 0 deliveries above all). A QoS 1/2
    /// publisher's acknowledgement is then held, and a QoS 0 publisher's connection is not read (TCP slows the
    /// publisher) until less than half is left. 0 = QoS 0 is never waited for (dropped at <see cref="MaxQueuedBytes"/>).
    /// </summary>
    public long BackpressureHighWaterBytes { get; set; } = 1024 * 1024;

    /// <summary>The message mark in effect: at most half the hard limit; int.MaxValue when off.</summary>
    internal int HighWaterMessages() => BackpressureTimeoutMs <= 0 || BackpressureHighWaterMessages <= 0
        ? int.MaxValue
        : Math.Max(1, Math.Min(BackpressureHighWaterMessages, MaxQueuedMessages / 2));

    /// <summary>The byte mark in effect: at most half the hard limit; long.MaxValue when off.</summary>
    internal long HighWaterBytes() => BackpressureTimeoutMs <= 0 || BackpressureHighWaterBytes <= 0
        ? long.MaxValue
        : Math.Max(1, Math.Min(BackpressureHighWaterBytes, MaxQueuedBytes / 2));

    /// <summary>Queue QoS 0 messages for sessions whose client is offline. Off by default (the spec makes it optional).</summary>
    public bool QueueQoS0WhenOffline { get; set; }

    public int MaxSubscriptionsPerSession { get; set; } = 10_000;

    /// <summary>Longest topic name or filter in UTF-16 characters (0x90/0x8F beyond).</summary>
    public int MaxTopicLength { get; set; } = 65_535;

    public int MaxTopicLevels { get; set; } = 128;

    /// <summary>Topic Alias Maximum announced to clients (aliases they may define towards us).</summary>
    public ushort TopicAliasMaximum { get; set; } = 1024;

    /// <summary>Most aliases the server assigns on its own towards one client (bounded by what the client allows).</summary>
    public ushort OutboundTopicAliasMaximum { get; set; } = 256;

    /// <summary>Upper bound on Session Expiry Interval, seconds. uint.MaxValue = sessions may never expire.</summary>
    public uint MaxSessionExpiryInterval { get; set; } = uint.MaxValue;

    /// <summary>Seconds between $SYS publications; 0 disables them.</summary>
    public int SysIntervalSeconds { get; set; } = 10;

    /// <summary>Response Information handed to clients that request it; the client id is appended.</summary>
    public string ResponseInformationPrefix { get; set; } = "$response/";
}
