using Gatehouse.Storage.Embedded;

namespace Gatehouse.Storage.Tests;

public sealed class SqliteThreadingModeTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void The_stores_under_test_run_in_the_servers_threading_mode()
    {
        // Set by the linked module initializer (tests/Shared); without it these tests would run SQLite serialized.
        Assert.Equal("multi-thread", SqliteThreadingMode.Current);
    }

    [Fact]
    public async Task Asking_again_once_SQLite_is_in_use_is_refused_and_changes_nothing()
    {
        await using var store = SqliteBrokerStore.Open(new SqliteStoreOptions { DataDirectory = _directory.Path });
        Assert.False(SqliteThreadingMode.UseMultiThread());
        Assert.Equal("multi-thread", SqliteThreadingMode.Current);
    }
}
