using Gatehouse.Protocol;

namespace Gatehouse.Storage.Embedded;

/// <summary>
/// One submitted change. It is its own completion source (one allocation per submission); continuations never run on
/// the writer thread.
/// </summary>
internal abstract class StoreOperation() : TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)
{
    /// <summary>Applies the change inside the writer's open transaction.</summary>
    public abstract void Apply(StoreCommands commands);

    /// <summary>Operations that must run after the preceding ones committed, outside a write transaction (load, flush).</summary>
    public virtual bool RunsAlone => false;
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

internal sealed class EnqueueOperation(ApplicationMessage message, IReadOnlyList<QueuedDeliveryRecord> deliveries) : StoreOperation
{
    public override void Apply(StoreCommands commands) => commands.Enqueue(message, deliveries);
}

internal sealed class UpdateDeliveryOperation(string clientId, long messageId, ushort packetId, DeliveryState state) : StoreOperation
{
    public override void Apply(StoreCommands commands) => commands.UpdateDelivery(clientId, messageId, packetId, state);
}

internal sealed class RemoveDeliveryOperation(string clientId, long messageId) : StoreOperation
{
    public override void Apply(StoreCommands commands) => commands.RemoveDelivery(clientId, messageId);
}

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
