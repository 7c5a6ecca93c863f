using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gatehouse.Bench;

/// <summary>Latency from the timestamp in the payload to arrival, in microseconds.</summary>
public sealed record LatencySummary(long Count, long P50, long P90, long P99, long P999, long Max, double Mean)
{
    public static LatencySummary From(LatencyHistogram h)
        => new(h.Count, h.Percentile(50), h.Percentile(90), h.Percentile(99), h.Percentile(99.9), h.Max, Math.Round(h.Mean, 1));
}

/// <summary>The outcome of one run; printed as text or, with --json, as one JSON document.</summary>
public sealed class BenchResult
{
    public string Scenario { get; set; } = "";
    public string Broker { get; set; } = "";
    public string MqttVersion { get; set; } = "";
    public int QoS { get; set; }
    public int PayloadBytes { get; set; }
    public int Publishers { get; set; }
    public int Subscribers { get; set; }
    public double RatePerPublisher { get; set; }

    public long Connections { get; set; }
    public long ConnectFailures { get; set; }
    public double ConnectSeconds { get; set; }
    public double ConnectRate { get; set; }

    /// <summary>Seconds the publishers ran (first message to last send).</summary>
    public double PublishSeconds { get; set; }
    public long Sent { get; set; }
    public long Acked { get; set; }
    public long Received { get; set; }
    public double SentRate { get; set; }
    public double AckedRate { get; set; }
    /// <summary>Messages (deliveries, for fan-out) received per second, publishers' start to the last arrival.</summary>
    public double ReceivedRate { get; set; }

    public LatencySummary? LatencyUs { get; set; }

    /// <summary>QoS 0: sent and never received; QoS 1/2: acknowledged to the publisher and never received. Per expected subscriber.</summary>
    public long Lost { get; set; }
    public long Duplicates { get; set; }
    public long OutOfOrder { get; set; }
    /// <summary>Messages sent at QoS 1/2 that the broker never acknowledged (in flight at the end).</summary>
    public long Unacknowledged { get; set; }
    public long Errors { get; set; }
    public IReadOnlyList<string> ErrorSamples { get; set; } = [];

    /// <summary>Backlog (F): messages queued per second while the session was offline, and drained per second.</summary>
    public double? QueueRate { get; set; }
    public double? DrainRate { get; set; }
    public double? DrainSeconds { get; set; }

    /// <summary>Idle connections (E): broker resident memory before and after, and the difference per connection.</summary>
    public long? BrokerRssBeforeBytes { get; set; }
    public long? BrokerRssAfterBytes { get; set; }
    public double? BrokerRssPerConnectionBytes { get; set; }

    /// <summary>CPU used over the run's wall time, in % of one core (100 = one core busy).</summary>
    public double GeneratorCpuPercent { get; set; }
    public double? BrokerCpuPercent { get; set; }
    public double WallSeconds { get; set; }

    private static readonly JsonSerializerOptions s_json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public string ToJson() => JsonSerializer.Serialize(this, s_json);

    public string ToText()
    {
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append(c, $"scenario {Scenario} against {Broker} (MQTT {MqttVersion}, QoS {QoS}, {PayloadBytes} B payload, {Publishers} publishers, {Subscribers} subscribers)\n");
        sb.Append(c, $"  connections   {Connections:N0} in {ConnectSeconds:F2} s = {ConnectRate:N0}/s, {ConnectFailures:N0} failed\n");
        if (Sent > 0 || Received > 0)
        {
            sb.Append(c, $"  sent          {Sent:N0} in {PublishSeconds:F2} s = {SentRate:N0} msg/s\n");
            if (QoS > 0) sb.Append(c, $"  acknowledged  {Acked:N0} = {AckedRate:N0} msg/s, {Unacknowledged:N0} unacknowledged\n");
            sb.Append(c, $"  received      {Received:N0} = {ReceivedRate:N0} msg/s\n");
        }
        if (LatencyUs is { Count: > 0 } l)
            sb.Append(c, $"  latency µs    p50 {l.P50:N0}  p90 {l.P90:N0}  p99 {l.P99:N0}  p99.9 {l.P999:N0}  max {l.Max:N0}  mean {l.Mean:N0}\n");
        if (QueueRate is { } q) sb.Append(c, $"  backlog       queued {q:N0} msg/s, drained {DrainRate ?? 0:N0} msg/s ({DrainSeconds ?? 0:F2} s)\n");
        if (BrokerRssPerConnectionBytes is { } rss)
            sb.Append(c, $"  broker RSS    {BrokerRssBeforeBytes / 1024:N0} KiB -> {BrokerRssAfterBytes / 1024:N0} KiB = {rss:N0} B per connection\n");
        sb.Append(c, $"  accounting    lost {Lost:N0}, duplicates {Duplicates:N0}, out of order {OutOfOrder:N0}, errors {Errors:N0}\n");
        foreach (var e in ErrorSamples) sb.Append(c, $"    error: {e}\n");
        sb.Append(c, $"  cpu           generator {GeneratorCpuPercent:F0}% of a core");
        if (BrokerCpuPercent is { } b) sb.Append(c, $", broker {b:F0}%");
        sb.Append(c, $" over {WallSeconds:F1} s\n");
        return sb.ToString();
    }
}
