using BenchmarkDotNet.Attributes;
using Gatehouse.Broker.Subscriptions;

namespace Gatehouse.Benchmarks;

/// <summary>
/// Matching against 1,000,000 subscriptions shaped like an IoT fleet: mostly exact per-device filters, per-device
/// command wildcards, per-site '#' filters, per-tenant '+' filters and a few fleet-wide wildcard subscriptions held by
/// back-end applications. Each benchmark matches a batch of precomputed topics, so figures are per Match.
/// </summary>
[MemoryDiagnoser]
public class TopicTreeBenchmarks
{
    private const int Batch = 1024;
    private const int Devices = 600_000;   // devices/{d}/telemetry         exact
    private const int Commands = 200_000;  // devices/{d}/commands/+        wildcard
    private const int Sites = 100_000;     // sites/{s}/#                    wildcard
    private const int Tenants = 99_990;    // tenants/{t}/+/alerts           wildcard
    // + 10 fleet-wide filters held by back-end apps (devices/+/telemetry, #, ...): 1,000,000 in all.

    private TopicTree<int, int> _tree = null!;
    private readonly List<int> _results = new(64);
    private string[] _telemetryTopics = null!;
    private string[] _commandTopics = null!;
    private string[] _siteTopics = null!;
    private string[] _alertTopics = null!;
    private string[] _missTopics = null!;
    private int _churn;

    [GlobalSetup]
    public void Setup()
    {
        var before = GC.GetTotalMemory(forceFullCollection: true);
        _tree = new TopicTree<int, int>();
        var key = 0;
        for (var d = 0; d < Devices; d++) _tree.AddOrReplace($"devices/{d}/telemetry", key++, d);
        for (var d = 0; d < Commands; d++) _tree.AddOrReplace($"devices/{d}/commands/+", key++, d);
        for (var s = 0; s < Sites; s++) _tree.AddOrReplace($"sites/{s}/#", key++, s);
        for (var t = 0; t < Tenants; t++) _tree.AddOrReplace($"tenants/{t}/+/alerts", key++, t);
        string[] fleetWide =
        [
            "devices/+/telemetry", "devices/+/telemetry", "devices/+/commands/#", "sites/+/+/temperature", "#",
            "$SYS/#", "tenants/+/+/alerts", "+/+/telemetry", "devices/#", "sites/#",
        ];
        foreach (var filter in fleetWide) _tree.AddOrReplace(filter, key++, -1);
        var after = GC.GetTotalMemory(forceFullCollection: true);
        Console.WriteLine($"// TopicTree: {_tree.Count:N0} subscriptions, ~{(after - before) / _tree.Count} bytes each (incl. filter strings)");

        var random = new Random(42);
        _telemetryTopics = Topics(() => $"devices/{random.Next(Devices)}/telemetry");
        _commandTopics = Topics(() => $"devices/{random.Next(Commands)}/commands/reboot");
        _siteTopics = Topics(() => $"sites/{random.Next(Sites)}/floor{random.Next(10)}/temperature");
        _alertTopics = Topics(() => $"tenants/{random.Next(Tenants)}/gw{random.Next(5)}/alerts");
        _missTopics = Topics(() => $"$unknown/{random.Next(Devices)}/nothing");
    }

    private static string[] Topics(Func<string> make) => Enumerable.Range(0, Batch).Select(_ => make()).ToArray();

    private int MatchAll(string[] topics)
    {
        var total = 0;
        var results = _results;
        foreach (var topic in topics)
        {
            results.Clear();
            _tree.Match(topic, results);
            total += results.Count;
        }
        return total;
    }

    /// <summary>Exact device filter plus the fleet-wide telemetry wildcards (6 results).</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int MatchTelemetry() => MatchAll(_telemetryTopics);

    /// <summary>Per-device '+' command filter plus fleet-wide wildcards.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int MatchCommand() => MatchAll(_commandTopics);

    /// <summary>Per-site '#' filter plus fleet-wide wildcards.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int MatchSite() => MatchAll(_siteTopics);

    /// <summary>Per-tenant '+' in the middle plus fleet-wide wildcards.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int MatchTenantAlert() => MatchAll(_alertTopics);

    /// <summary>A '$' topic nobody subscribed to: the walk stops at the root.</summary>
    [Benchmark(OperationsPerInvoke = Batch)]
    public int MatchMiss() => MatchAll(_missTopics);

    /// <summary>Subscribe and unsubscribe one exact filter on the full tree (the write path, under its lock).</summary>
    [Benchmark]
    public bool SubscribeUnsubscribe()
    {
        var filter = _telemetryTopics[_churn++ & (Batch - 1)];
        _tree.AddOrReplace(filter, -7, 0);
        return _tree.Remove(filter, -7);
    }
}
