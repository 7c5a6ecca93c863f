using Gatehouse.Protocol;

namespace Gatehouse.Bench;

/// <summary>The scenarios of <c>gatehouse bench</c>; the composite ones match issue 5's table (A–F).</summary>
public static class Scenarios
{
    public const string Pub = "pub";
    public const string Sub = "sub";
    public const string Conn = "conn";
    public const string FanIn = "fan-in";
    public const string FanInQoS1 = "fan-in-qos1";
    public const string Pairs = "pairs";
    public const string FanOut = "fan-out";
    public const string IdleConns = "idle-conns";
    public const string Backlog = "backlog";

    public static readonly IReadOnlyList<(string Name, string Description)> All =
    [
        (Pub, "N publishers on --topic (default bench/{i}); counts sent and acknowledged messages"),
        (Sub, "N subscribers on --topic (default bench/#); counts, gaps, duplicates, latency of bench payloads"),
        (Conn, "open N connections (default 1,000), report connections/s, hold --duration, close"),
        (FanIn, "A: N publishers (default 100) -> 1 subscriber on prefix/+, QoS 0"),
        (FanInQoS1, "B: the same at QoS 1, at most --inflight (16) unacknowledged per publisher"),
        (Pairs, "C: N (50) publisher->subscriber pairs, QoS 1, --rate per pair; latency"),
        (FanOut, "D: 1 publisher -> N (500) subscribers, QoS 0; deliveries/s"),
        (IdleConns, "E: N (10,000) idle connections; connections/s, broker RSS per connection (--broker-pid)"),
        (Backlog, "F: a persistent session offline while N (100,000) QoS 1 messages queue, then it drains"),
    ];

    public static bool IsKnown(string name) => All.Any(s => s.Name == name);
}

/// <summary>Options of one bench run; null means "the scenario's default" (see <see cref="Resolve"/>).</summary>
public sealed record BenchOptions
{
    public required string Scenario { get; init; }
    public string Host { get; init; } = "127.0.0.1";
    public int Port { get; init; } = 1883;
    public int? Clients { get; init; }
    /// <summary>Messages per second per publisher; 0 = unpaced.</summary>
    public double Rate { get; init; }
    public int? QoS { get; init; }
    public int PayloadSize { get; init; } = 64;
    public string? Topic { get; init; }
    public ProtocolVersion Version { get; init; } = ProtocolVersion.V500;
    public bool Tls { get; init; }
    /// <summary>Persistent sessions (clean start 0, session expiry &gt; 0) instead of clean ones.</summary>
    public bool Persistent { get; init; }
    public double? DurationSeconds { get; init; }
    /// <summary>Messages in total (publishers), messages to receive (sub), or connections.</summary>
    public long? Count { get; init; }
    public double RampUpSeconds { get; init; }
    public bool Json { get; init; }
    public int? BrokerPid { get; init; }
    public int Inflight { get; init; } = 16;
    /// <summary>QoS 0 end-to-end window per publisher (messages sent but not yet received); 0 = open loop.</summary>
    public int? Window { get; init; }
    /// <summary>Connections opened at once while connecting.</summary>
    public int ConnectConcurrency { get; init; } = 100;
    /// <summary>Loopback source addresses to spread connections over (127.0.0.1..N); 1 = let the kernel choose.</summary>
    public int SourceAddresses { get; init; } = 1;
    public string ClientIdPrefix { get; init; } = "bench";
    /// <summary>Longest wait for in-flight messages after the publishers stop.</summary>
    public double DrainTimeoutSeconds { get; init; } = 15;

    /// <summary>The options with every scenario default filled in.</summary>
    public BenchOptions Resolve()
    {
        var (clients, topic, qos, duration, window) = Scenario switch
        {
            Scenarios.Pub => (1, "bench/{i}", 0, 10.0, 0),
            Scenarios.Sub => (1, "bench/#", 0, 10.0, 0),
            Scenarios.Conn => (1000, "", 0, 0.0, 0),
            Scenarios.FanIn => (100, "bench/in/{i}", 0, 10.0, 100),
            Scenarios.FanInQoS1 => (100, "bench/in/{i}", 1, 10.0, 0),
            Scenarios.Pairs => (50, "bench/pair/{i}", 1, 10.0, 0),
            Scenarios.FanOut => (500, "bench/out", 0, 10.0, 100),
            Scenarios.IdleConns => (10_000, "", 0, 2.0, 0),
            Scenarios.Backlog => (10, "bench/backlog", 1, 0.0, 0),
            _ => throw new BenchException($"unknown scenario '{Scenario}'"),
        };
        var count = Count ?? (Scenario == Scenarios.Backlog ? 100_000 : null);
        return this with
        {
            Clients = Clients ?? clients,
            Topic = Topic ?? topic,
            QoS = QoS ?? qos,
            // A count without a duration runs until the count is reached.
            DurationSeconds = DurationSeconds ?? (Count is not null && Scenario is not (Scenarios.Conn or Scenarios.IdleConns) ? 0 : duration),
            Count = count,
            Window = Window ?? window,
            Inflight = Math.Clamp(Inflight, 1, 65_000),
        };
    }

    public void Validate()
    {
        if (!Scenarios.IsKnown(Scenario)) throw new BenchException($"unknown scenario '{Scenario}' (one of {string.Join(", ", Scenarios.All.Select(s => s.Name))})");
        if (Port is < 1 or > 65535) throw new BenchException($"--port {Port} out of range");
        if (Clients is < 1) throw new BenchException("--clients must be at least 1");
        if (QoS is < 0 or > 2) throw new BenchException("--qos must be 0, 1 or 2");
        if (Rate < 0) throw new BenchException("--rate must not be negative");
        if (PayloadSize is < 0 or > 256 * 1024 * 1024) throw new BenchException("--payload out of range");
        if (DurationSeconds is < 0) throw new BenchException("--duration must not be negative");
        if (Count is < 1) throw new BenchException("--count must be at least 1");
        if (RampUpSeconds < 0) throw new BenchException("--ramp-up must not be negative");
    }
}
