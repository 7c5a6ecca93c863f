using Gatehouse.Testing;

namespace Gatehouse.Host.Tests.Hosting;

public sealed class SqliteThreadingTests
{
    [Fact]
    public async Task The_server_runs_SQLite_in_multi_thread_mode()
    {
        // Program sets it before anything opens a database. Any later and SQLite stays serialized: still correct, but
        // every call into the library takes a mutex again.
        await using var server = await ServerProcess.StartAsync(new ServerProcessOptions { Storage = "sqlite" });
        await Eventually.Assert(() => server.Output.Contains("SQLite multi-thread", StringComparison.Ordinal),
            "the store's start-up line naming SQLite's threading mode");
    }
}
