using Gatehouse.Storage.Embedded;

namespace Gatehouse.Benchmarks;

/// <summary>A SQLite store in a new directory under the temporary folder; disposing it closes the store and deletes the directory.</summary>
internal sealed class TemporaryStore : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "gatehouse-store-bench", Guid.NewGuid().ToString("N"));

    public TemporaryStore() => Store = SqliteBrokerStore.Open(new SqliteStoreOptions { DataDirectory = _directory, QuickCheckOnOpen = false });

    public SqliteBrokerStore Store { get; }

    public void Dispose()
    {
        Store.DisposeAsync().AsTask().Wait();
        Directory.Delete(_directory, recursive: true);
    }
}
