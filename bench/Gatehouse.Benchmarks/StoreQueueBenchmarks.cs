using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Gatehouse.Protocol;
using Gatehouse.Storage;
using Gatehouse.Storage.Embedded;

namespace Gatehouse.Benchmarks;

/// <summary>
/// Queueing QoS 1 messages for offline persistent sessions through the SQLite store, as the broker does it while a
/// subscriber is away (load scenario "backlog", queue phase): one <see cref="IBrokerStore.Enqueue"/> per message to
/// <see cref="Sessions"/> sessions, up to 1024 outstanding (many publishers), so batches are large and the fsync is
/// spread thin; what remains is the writer's per-message work. Figures are per queued message.
/// <code>dotnet run -c Release --project bench/Gatehouse.Benchmarks -- --filter '*StoreQueue*'</code>
/// </summary>
[Config(typeof(Config))]
public class StoreQueueBenchmarks
{
    private const int Messages = 50_000;

    private TemporaryStore _temporary = null!;
    private SqliteBrokerStore _store = null!;
    private readonly byte[] _payload = new byte[64];
    private QueuedDeliveryRecord[] _to = [];
    private long _nextId;

    [Params(1, 3)]
    public int Sessions { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _temporary = new TemporaryStore();
        _store = _temporary.Store;
        _to = [.. Enumerable.Range(0, Sessions).Select(s => new QueuedDeliveryRecord($"bench-offline-{s}", QoS.AtLeastOnce, false, null, null))];
        NewSessions();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _temporary.Dispose();
    }

    /// <summary>Empties the queues (not measured), so every iteration queues into tables of the same size.</summary>
    [IterationCleanup]
    public void NewSessions()
    {
        var pending = new List<Task>();
        foreach (var d in _to)
        {
            pending.Add(_store.DeleteSession(d.ClientId).AsTask());
            pending.Add(_store.SaveSession(new SessionRecord(d.ClientId, ProtocolVersion.V311, 3600, DateTimeOffset.UtcNow, null)).AsTask());
        }
        Task.WhenAll(pending).Wait();
    }

    [Benchmark(OperationsPerInvoke = Messages)]
    public async Task Queue()
    {
        var pending = new Queue<Task>(1025);
        for (var i = 0; i < Messages; i++)
        {
            var message = new ApplicationMessage { Id = ++_nextId, Topic = "bench/backlog", Payload = _payload, QoS = QoS.AtLeastOnce, PublisherClientId = "bench-publisher" };
            pending.Enqueue(_store.Enqueue(message, _to).AsTask());
            while (pending.Count > 1024) await pending.Dequeue();
        }
        while (pending.Count > 0) await pending.Dequeue();
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance)
                .WithWarmupCount(2).WithIterationCount(10).WithInvocationCount(1).WithUnrollFactor(1));
            AddDiagnoser(MemoryDiagnoser.Default);
        }
    }
}
