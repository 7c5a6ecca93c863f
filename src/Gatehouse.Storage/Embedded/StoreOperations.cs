using Gatehouse.Protocol;

namespace Gatehouse.Storage.Embedded;

/// <summary>
/// One submitted change. It is its own completion source (one allocation per submission); continuations never run on
/// the writer thread. Its task is marked as a submission (<see cref="SubmissionWatch"/>): the writer tells those who
/// watch it, after the batch that completed it.
/// </summary>
internal abstract class StoreOperation() : TaskCompletionSource(SubmissionWatch.Submission, TaskCreationOptions.RunContinuationsAsynchronously)
{
    /// <summary>Applies the change inside the writer's open transaction.</summary>
    public abstract void Apply(StoreCommands commands);

    /// <summary>Operations that must run after the preceding ones committed, outside a write transaction (load, flush).</summary>
    public virtual bool RunsAlone => false;

    /// <summary>
    /// Fails the operation with a failure the store has already logged, and marks it observed: a submission nobody waits
    /// for (the removal after a PUBACK) must not surface again later as an unobserved task exception. Whoever awaits it
    /// still gets the exception.
    /// </summary>
    public void Fail(Exception failure)
    {
        if (TrySetException(failure)) _ = Task.Exception;
    }
}

internal sealed class SaveSessionOperation(SessionRecord session) : StoreOperation
{
    public override void Apply(StoreCommands commands) => commands.SaveSession(session);
}

internal sealed class DeleteSessionOperation(string clientId) : StoreOperation
{
    public override void Apply(StoreCommands commands) => commands.DeleteSession(clientId);
}

internal sealed class SaveSubscriptionOperation(string clientId, SubscriptionRecord subscription) : StoreOperation
{
    public override void Apply(StoreCommands commands) => commands.SaveSubscription(clientId, subscription);
}

internal sealed class DeleteSubscriptionOperation(string clientId, string topicFilter) : StoreOperation
{
    public override void Apply(StoreCommands commands) => commands.DeleteSubscription(clientId, topicFilter);
}

internal sealed class EnqueueOperation(ApplicationMessage message, IReadOnlyList<QueuedDeliveryRecord> deliveries, AcceptedQoS2? accepted)
    : StoreOperation
{
    // Bit i: a later removal in the same batch undoes delivery i, so it is not written (see BatchCoalescer).
    private ulong _undone;

    public override void Apply(StoreCommands commands)
    {
        // One operation is never split across commits: the packet id and the queue entries become durable together. The
        // id is kept even when a later removal undoes every delivery: the message was delivered, its resend must be known.
        if (accepted is { } id) commands.AddIncomingQoS2(id.ClientId, id.PacketId);
        if (AllUndone) return;
        commands.Enqueue(message, deliveries, _undone);
    }

    /// <summary>Marks the deliveries that <paramref name="removedLater"/> undoes; returns how many it marked.</summary>
    public int MarkUndone(HashSet<DeliveryKey> removedLater)
    {
        // Only the first 64 deliveries are tracked; a larger fan-out is written as submitted (its removals still apply).
        var count = Math.Min(deliveries.Count, 64);
        var marked = 0;
        for (var i = 0; i < count; i++)
        {
            if ((_undone & (1UL << i)) != 0 || !removedLater.Contains(new DeliveryKey(deliveries[i].ClientId, message.Id))) continue;
            _undone |= 1UL << i;
            marked++;
        }
        return marked;
    }

    /// <summary>Every delivery undone: neither they nor the body are written.</summary>
    private bool AllUndone => deliveries.Count <= 64 && _undone == (deliveries.Count == 64 ? ulong.MaxValue : (1UL << deliveries.Count) - 1);
}

internal sealed class UpdateDeliveryOperation(string clientId, long messageId, ushort packetId, DeliveryState state) : StoreOperation
{
    public DeliveryKey Key => new(clientId, messageId);

    /// <summary>A later removal in the same batch deletes the row this would update (see BatchCoalescer).</summary>
    public bool Undone { get; set; }

    public override void Apply(StoreCommands commands)
    {
        if (!Undone) commands.UpdateDelivery(clientId, messageId, packetId, state);
    }
}

internal sealed class RemoveDeliveryOperation(string clientId, long messageId) : StoreOperation
{
    public DeliveryKey Key => new(clientId, messageId);

    public override void Apply(StoreCommands commands) => commands.RemoveDelivery(clientId, messageId);
}

/// <summary>One session's delivery of one message: the primary key of a queued delivery.</summary>
internal readonly record struct DeliveryKey(string ClientId, long MessageId);

internal sealed class SaveRetainedOperation(ApplicationMessage message) : StoreOperation
{
    public override void Apply(StoreCommands commands) => commands.SaveRetained(message);
}

internal sealed class DeleteRetainedOperation(string topic) : StoreOperation
{
    public override void Apply(StoreCommands commands) => commands.DeleteRetained(topic);
}

internal sealed class AddIncomingQoS2Operation(string clientId, ushort packetId) : StoreOperation
{
    public override void Apply(StoreCommands commands) => commands.AddIncomingQoS2(clientId, packetId);
}

internal sealed class RemoveIncomingQoS2Operation(string clientId, ushort packetId) : StoreOperation
{
    public override void Apply(StoreCommands commands) => commands.RemoveIncomingQoS2(clientId, packetId);
}

/// <summary>Completes when everything submitted before it is durable.</summary>
internal sealed class FlushOperation : StoreOperation
{
    public override bool RunsAlone => true;
    public override void Apply(StoreCommands commands) { }
}

/// <summary>Reads the whole store after everything submitted before it committed.</summary>
internal sealed class LoadOperation(CancellationToken cancellationToken) : StoreOperation
{
    public StoreSnapshot? Snapshot { get; private set; }
    public override bool RunsAlone => true;
    public override void Apply(StoreCommands commands) => Snapshot = commands.Load(cancellationToken);
}

/// <summary>Runs an action on the writer's connection between batches (tests: simulate a full disk or read-only file).</summary>
internal sealed class ConnectionOperation(Action<Microsoft.Data.Sqlite.SqliteConnection> action) : StoreOperation
{
    public override bool RunsAlone => true;
    public override void Apply(StoreCommands commands) => action(commands.Connection);
}
