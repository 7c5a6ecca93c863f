using Gatehouse.Protocol;
using Gatehouse.Storage;

namespace Gatehouse.Broker.Tests.InProcess;

/// <summary>
/// A store in front of a <see cref="MemoryBrokerStore"/> standing for the disk, which can stop writes at any chosen
/// operation the way a crash stops a real store between two commits. While held, submissions wait in order (as a store
/// that commits in order makes them wait); <see cref="CutPower"/> then lets a prefix of them reach the disk and loses the
/// rest. A broker started on <see cref="Disk"/> afterwards recovers what a restarted process would find.
/// </summary>
internal sealed class PowerCutStore(MemoryBrokerStore disk) : IBrokerStore
{
    private readonly Lock _lock = new();
    private readonly List<(string Name, Func<ValueTask> Write, TaskCompletionSource Done)> _held = [];
    private bool _holding, _off;
    private int _letThrough;

    public MemoryBrokerStore Disk => disk;

    /// <summary>The names of the held operations, in submission order.</summary>
    public IReadOnlyList<string> Held
    {
        get
        {
            lock (_lock) return [.. _held.Select(h => h.Name)];
        }
    }

    /// <summary>What is on the disk now (the memory store answers at once).</summary>
    public StoreSnapshot DiskSnapshot() => disk.LoadAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult();

    /// <summary>For a failing test's message: the writes that were held when the power was cut, and how many reached the disk.</summary>
    public static string Describe(IReadOnlyList<string> held, int reachedDisk) =>
        $"writes held at the cut: {string.Join(", ", held)}; {reachedDisk} survived";

    /// <summary>
    /// From now on nothing reaches the disk, and no submission completes, until <see cref="CutPower"/>; except the next
    /// <paramref name="letThrough"/> submissions, which are written at once (a crash just after a commit).
    /// </summary>
    public void Hold(int letThrough = 0)
    {
        lock (_lock)
        {
            _holding = true;
            _letThrough = letThrough;
        }
    }

    /// <summary>The held operations are written and complete, in order, and writes go straight through again: a slow commit ends.</summary>
    public void Release()
    {
        lock (_lock)
        {
            _holding = false;
            foreach (var (_, write, done) in _held)
            {
                // The memory store writes at once, so this does not block.
                write().AsTask().GetAwaiter().GetResult();
                done.SetResult();
            }
            _held.Clear();
        }
    }

    /// <summary>
    /// The first <paramref name="reachDisk"/> held operations are written, the others and every later one never are. Their
    /// tasks fail, so the dying broker's connections stop instead of waiting for ever; none of their acknowledgements go out.
    /// </summary>
    public void CutPower(int reachDisk)
    {
        lock (_lock)
        {
            _off = true;
            for (var i = 0; i < _held.Count; i++)
            {
                var (_, write, done) = _held[i];
                // The memory store writes at once, so this does not block.
                if (i < reachDisk) write().AsTask().GetAwaiter().GetResult();
                done.SetException(new StoreUnavailableException("power cut"));
            }
            _held.Clear();
        }
    }

    private ValueTask Submit(string name, Func<ValueTask> write)
    {
        lock (_lock)
        {
            if (_off) return ValueTask.FromException(new StoreUnavailableException("power cut"));
            if (!_holding) return write();
            if (_letThrough > 0)
            {
                _letThrough--;
                return write();
            }
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _held.Add((name, write, done));
            return new ValueTask(done.Task);
        }
    }

    public ValueTask<StoreSnapshot> LoadAsync(CancellationToken cancellationToken) => disk.LoadAsync(cancellationToken);

    public ValueTask SaveSession(SessionRecord session) => Submit("SaveSession", () => disk.SaveSession(session));

    public ValueTask DeleteSession(string clientId) => Submit("DeleteSession", () => disk.DeleteSession(clientId));

    public ValueTask SaveSubscription(string clientId, SubscriptionRecord subscription) =>
        Submit("SaveSubscription", () => disk.SaveSubscription(clientId, subscription));

    public ValueTask DeleteSubscription(string clientId, string topicFilter) =>
        Submit("DeleteSubscription", () => disk.DeleteSubscription(clientId, topicFilter));

    public ValueTask Enqueue(ApplicationMessage message, IReadOnlyList<QueuedDeliveryRecord> deliveries, AcceptedQoS2? accepted = null) =>
        Submit(accepted is null ? "Enqueue" : "Enqueue+AcceptedQoS2", () => disk.Enqueue(message, deliveries, accepted));

    public ValueTask UpdateDelivery(string clientId, long messageId, ushort packetId, DeliveryState state) =>
        Submit("UpdateDelivery", () => disk.UpdateDelivery(clientId, messageId, packetId, state));

    public ValueTask RemoveDelivery(string clientId, long messageId) => Submit("RemoveDelivery", () => disk.RemoveDelivery(clientId, messageId));

    public ValueTask SaveRetained(ApplicationMessage message) => Submit("SaveRetained", () => disk.SaveRetained(message));

    public ValueTask DeleteRetained(string topic) => Submit("DeleteRetained", () => disk.DeleteRetained(topic));

    public ValueTask AddIncomingQoS2(string clientId, ushort packetId) =>
        Submit("AddIncomingQoS2", () => disk.AddIncomingQoS2(clientId, packetId));

    public ValueTask RemoveIncomingQoS2(string clientId, ushort packetId) =>
        Submit("RemoveIncomingQoS2", () => disk.RemoveIncomingQoS2(clientId, packetId));

    /// <summary>The disk outlives the broker that used this store.</summary>
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
