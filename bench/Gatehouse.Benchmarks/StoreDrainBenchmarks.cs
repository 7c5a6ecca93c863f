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
/// Draining a persistent session's backlog through the SQLite store, as the broker does it (load scenario "backlog"):
/// each message gets <see cref="IBrokerStore.UpdateDelivery"/> when it is sent and <see cref="IBrokerStore.RemoveDelivery"/>
/// when its PUBACK arrives, <see cref="AckLag"/> messages later. With a lag as wide as the in-flight window (1024) the two
/// never share a batch; with a short one the update is coalesced away. Figures are per drained message.
/// <code>dotnet run -c Release --project bench/Gatehouse.Benchmarks -- --filter '*StoreDrain*'</code>
/// </summary>
[Config(typeof(Config))]
public class StoreDrainBenchmarks
{
    private const int Messages = 20_000;
    private const string ClientId = "bench-backlog-subscriber";

    private TemporaryStore _temporary = null!;
    private SqliteBrokerStore _store = null!;
    private readonly byte[] _payload = new byte[64];
    private long _firstId;

    [Params(16, 1024)]
    public int AckLag { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _temporary = new TemporaryStore();
        _store = _temporary.Store;
        _store.SaveSession(new SessionRecord(ClientId, ProtocolVersion.V311, 3600, null, null)).AsTask().Wait();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _temporary.Dispose();
    }

    /// <summary>Queues the backlog (not measured).</summary>
    [IterationSetup]
    public void Queue()
    {
        QueuedDeliveryRecord[] to = [new(ClientId, QoS.AtLeastOnce, false, null, null)];
        _firstId += Messages;
        var pending = new List<Task>(Messages);
        for (var i = 0; i < Messages; i++)
        {
            var message = new ApplicationMessage { Id = _firstId + i, Topic = "bench/backlog", Payload = _payload, QoS = QoS.AtLeastOnce };
            pending.Add(_store.Enqueue(message, to).AsTask());
        }
        Task.WhenAll(pending).Wait();
    }

    [Benchmark(OperationsPerInvoke = Messages)]
    public async Task Drain()
    {
        var acknowledged = new Queue<Task>();
        for (var i = 0; i < Messages + AckLag; i++)
        {
            if (i < Messages) _ = _store.UpdateDelivery(ClientId, _firstId + i, (ushort)(i % 65535 + 1), DeliveryState.AwaitingAck).AsTask();
            if (i >= AckLag) acknowledged.Enqueue(_store.RemoveDelivery(ClientId, _firstId + i - AckLag).AsTask());
            // The broker keeps at most its in-flight window outstanding; so does this.
            while (acknowledged.Count > 1024) await acknowledged.Dequeue();
        }
        while (acknowledged.Count > 0) await acknowledged.Dequeue();
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance)
                .WithWarmupCount(1).WithIterationCount(5).WithInvocationCount(1).WithUnrollFactor(1));
            AddDiagnoser(MemoryDiagnoser.Default);
        }
    }
}
