using System.Collections.Concurrent;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Gatehouse.Protocol;
using Gatehouse.Storage;
using Gatehouse.Storage.Embedded;

namespace Gatehouse.Benchmarks;

/// <summary>
/// Group commit of the SQLite store (WAL, synchronous=FULL, on the temp directory's disk): each submitter queues a
/// message to its own session, awaits durability, removes the delivery and awaits again, like a QoS 1 publish into a
/// persistent session followed by its PUBACK. Figures are per store operation; "Ops/commit" is the batching effect
/// and "Commits/s" the fsync rate. Runs in-process (the columns read the store's counters) with few iterations, since
/// one submitter is fsync-bound.
/// <code>dotnet run -c Release --project bench/Gatehouse.Benchmarks -- --filter '*StoreGroupCommit*'</code>
/// </summary>
[Config(typeof(StoreBenchmarkConfig))]
public class StoreGroupCommitBenchmarks
{
    private const int Rounds = 8192; // Enqueue + RemoveDelivery pairs per invocation
    private static readonly ConcurrentDictionary<int, (long Operations, long Commits)> Counters = new();

    private TemporaryStore _temporary = null!;
    private SqliteBrokerStore _store = null!;
    private readonly byte[] _payload = new byte[256];
    private long _nextId;
    private SqliteStoreStatistics _start;

    [Params(1, 16, 256)]
    public int Submitters { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _temporary = new TemporaryStore();
        _store = _temporary.Store;
        for (var s = 0; s < 256; s++) _store.SaveSession(new SessionRecord($"s{s}", ProtocolVersion.V500, 3600, null, null)).AsTask().Wait();
        _start = _store.Statistics;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        var end = _store.Statistics;
        Counters[Submitters] = (end.Operations - _start.Operations, end.Commits - _start.Commits);
        _temporary.Dispose();
    }

    [Benchmark(OperationsPerInvoke = Rounds * 2)]
    public Task EnqueueThenRemove()
    {
        var tasks = new Task[Submitters];
        for (var s = 0; s < tasks.Length; s++) tasks[s] = Submit($"s{s}", Rounds / Submitters);
        return Task.WhenAll(tasks);
    }

    private async Task Submit(string clientId, int rounds)
    {
        QueuedDeliveryRecord[] to = [new(clientId, QoS.AtLeastOnce, false, null, null)];
        for (var i = 0; i < rounds; i++)
        {
            var id = Interlocked.Increment(ref _nextId);
            await _store.Enqueue(new ApplicationMessage { Id = id, Topic = "bench/" + clientId, Payload = _payload, QoS = QoS.AtLeastOnce }, to);
            await _store.RemoveDelivery(clientId, id);
        }
    }

    private sealed class StoreBenchmarkConfig : ManualConfig
    {
        public StoreBenchmarkConfig()
        {
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance)
                .WithWarmupCount(1).WithIterationCount(5).WithInvocationCount(1).WithUnrollFactor(1));
            AddColumn(StatisticColumn.OperationsPerSecond, new CounterColumn("Ops/commit", perSecond: false), new CounterColumn("Commits/s", perSecond: true));
        }
    }

    private sealed class CounterColumn(string name, bool perSecond) : IColumn
    {
        public string Id => nameof(StoreGroupCommitBenchmarks) + name;
        public string ColumnName => name;
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => perSecond ? "Transactions committed (fsyncs) per second" : "Store operations per committed transaction";
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            if (benchmarkCase.Parameters["Submitters"] is not int submitters || !Counters.TryGetValue(submitters, out var c) || c.Commits == 0) return "-";
            var opsPerCommit = (double)c.Operations / c.Commits;
            if (!perSecond) return opsPerCommit.ToString("F1");
            var nsPerOp = summary[benchmarkCase]?.ResultStatistics?.Mean;
            return nsPerOp is > 0 ? (1e9 / nsPerOp.Value / opsPerCommit).ToString("F0") : "-";
        }
    }
}
