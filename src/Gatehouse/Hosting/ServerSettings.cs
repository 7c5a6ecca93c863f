namespace Gatehouse.Hosting;

/// <summary>Host settings: configuration section "Server". Broker limits are in <see cref="Broker.BrokerOptions"/> ("Broker").</summary>
public sealed class ServerSettings
{
    public const string SectionName = "Server";

    /// <summary>IP address every listener binds to.</summary>
    public string Bind { get; set; } = "0.0.0.0";

    /// <summary>MQTT over TCP; 0 disables.</summary>
    public int MqttPort { get; set; } = 1883;

    /// <summary>MQTT over WebSocket at /mqtt; 0 disables.</summary>
    public int WsPort { get; set; } = 8083;

    /// <summary>MQTT over TLS; only with a certificate; 0 disables.</summary>
    public int TlsPort { get; set; } = 8883;

    /// <summary>MQTT over secure WebSocket at /mqtt; only with a certificate; 0 disables.</summary>
    public int WssPort { get; set; } = 8084;

    /// <summary>HTTP endpoint (health now, API later); 0 disables.</summary>
    public int HttpPort { get; set; } = 8080;

    /// <summary>Directory for durable state; created when missing.</summary>
    public string DataDir { get; set; } = "./data";

    /// <summary>sqlite: durable, under <see cref="DataDir"/> (the default); memory: lost at exit.</summary>
    public StorageKind Storage { get; set; } = StorageKind.Sqlite;

    /// <summary>Time allowed for a graceful shutdown before connections are cut.</summary>
    public int ShutdownTimeoutSeconds { get; set; } = 10;

    /// <summary>
    /// Who runs the plain-TCP MQTT listener: sockets (Gatehouse's own, the default: less memory per connection and
    /// fewer thread hand-offs per packet) or kestrel (ASP.NET Core's socket transport). TLS and WebSocket always use Kestrel.
    /// </summary>
    public TcpTransportKind TcpTransport { get; set; } = TcpTransportKind.Sockets;

    /// <summary>
    /// How long (µs) an I/O thread of the sockets transport keeps polling for more work after handling some, before it
    /// sleeps; 0 sleeps at once. A client's packet that finds the thread awake costs neither side a wake-up (on a VM an
    /// inter-processor interrupt, paid by the sender): connects per second from one closed-loop generator rose from
    /// about 21k to 23-26k with 100 µs. The cost is at most that much CPU after each burst of work.
    /// </summary>
    public int IdlePollMicroseconds { get; set; } = 100;

    /// <summary>
    /// Run the listeners that Kestrel serves (TLS, WebSocket, HTTP, and plain TCP with TcpTransport kestrel) on the
    /// socket event threads, as the sockets transport runs its own: socket completions and the pipes' continuations run
    /// inline instead of being handed to the thread pool, which took three to four thread hand-offs per packet. The
    /// broker's connection code never blocks, so nothing is held up. Measured over TLS (broker on one core): 50 pairs at
    /// 5,000 msg/s, p50 0.9–1.6 ms → 0.5–0.7 ms (docs/PERFORMANCE.md). False restores the hand-offs.
    /// </summary>
    public bool InlineKestrelCallbacks { get; set; } = true;

    public TlsSettings Tls { get; set; } = new();
}

/// <summary>Section "Server:Tls".</summary>
public sealed class TlsSettings
{
    /// <summary>PEM certificate (key inside or in <see cref="Key"/>) or PKCS#12/PFX file. Empty: no TLS listeners.</summary>
    public string? Certificate { get; set; }

    /// <summary>PEM private key for a PEM <see cref="Certificate"/>.</summary>
    public string? Key { get; set; }

    /// <summary>Password of the PFX file or of an encrypted PEM key.</summary>
    public string? Password { get; set; }
}

public enum TcpTransportKind
{
    Sockets,
    Kestrel,
}

public enum StorageKind
{
    Memory,
    Sqlite,
}
