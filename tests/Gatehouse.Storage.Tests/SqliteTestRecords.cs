using Gatehouse.Protocol;
using Gatehouse.Storage.Embedded;

namespace Gatehouse.Storage.Tests;

/// <summary>The records the SQLite store tests submit, and a way to make several submissions one batch.</summary>
internal static class SqliteTestRecords
{
    public static ApplicationMessage Message(long id, int size = 16) =>
        new() { Id = id, Topic = $"t/{id}", Payload = new byte[size], QoS = QoS.AtLeastOnce };

    public static QueuedDeliveryRecord To(string clientId) => new(clientId, QoS.AtLeastOnce, false, null, null);

    public static SessionRecord Session(string clientId) => new(clientId, ProtocolVersion.V500, 60, null, null);

    /// <summary>
    /// Runs <paramref name="submit"/> while the writer is held on a gate, so that all its submissions form one batch
    /// (none may complete before the gate opens), then awaits them after that batch committed.
    /// </summary>
    public static async Task InOneBatch(this SqliteBrokerStore store, Func<SqliteBrokerStore, Task[]> submit)
    {
        using var gate = new ManualResetEventSlim();
        var held = store.RunOnWriter(_ => gate.Wait(TimeSpan.FromSeconds(10))).AsTask();
        var tasks = submit(store);
        Assert.All(tasks, t => Assert.False(t.IsCompleted));
        gate.Set();
        await held;
        await Task.WhenAll(tasks);
    }
}
