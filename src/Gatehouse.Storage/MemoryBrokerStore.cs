namespace Gatehouse.Storage;

/// <summary>Placeholder; the real in-memory store is being written with the broker core.</summary>
public sealed class MemoryBrokerStore : IBrokerStore
{
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
