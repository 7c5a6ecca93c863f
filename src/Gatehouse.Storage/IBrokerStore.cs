namespace Gatehouse.Storage;

/// <summary>Placeholder; the real interface is being written with the broker core.</summary>
public interface IBrokerStore : IAsyncDisposable
{
}
