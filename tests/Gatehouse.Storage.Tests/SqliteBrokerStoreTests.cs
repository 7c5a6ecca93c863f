using System.Runtime.CompilerServices;
using Gatehouse.Protocol;
using Gatehouse.Storage.Embedded;
using Microsoft.Data.Sqlite;

using static Gatehouse.Storage.Tests.SqliteTestRecords;
using static Gatehouse.Storage.Tests.SqlCommands;

namespace Gatehouse.Storage.Tests;

/// <summary>What only the durable store has: files, reopening, group commit, format and failure handling.</summary>
public sealed class SqliteBrokerStoreTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    private SqliteStoreOptions Options(string? directory = null) => new() { DataDirectory = directory ?? _directory.Path };

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task Reopening_after_dispose_recovers_sessions_subscriptions_queues_in_flight_state_and_retained()
    {
        Task pending;
        await using (var store = SqliteBrokerStore.Open(Options()))
        {
            await store.SaveSession(Session("c1"));
            await store.SaveSubscription("c1", new SubscriptionRecord("a/#", QoS.ExactlyOnce, false, false, 0, 12));
            await store.Enqueue(Message(1), [To("c1")]);
            await store.Enqueue(Message(2), [To("c1")]);
            await store.UpdateDelivery("c1", 1, 17, DeliveryState.AwaitingComp);
            await store.AddIncomingQoS2("c1", 33);
            await store.SaveRetained(Message(3));
            // Awaited only after dispose: disposing commits what was submitted.
            pending = store.Enqueue(Message(4), [To("c1")]).AsTask();
        }
        Assert.True(pending.IsCompletedSuccessfully);
        Assert.True(File.Exists(Path.Combine(_directory.Path, "gatehouse.db")));

        await using var reopened = SqliteBrokerStore.Open(Options());
        var snapshot = await reopened.LoadAsync(CancellationToken.None);
        var session = Assert.Single(snapshot.Sessions);
        Assert.Equal("a/#", Assert.Single(session.Subscriptions).TopicFilter);
        Assert.Equal(new long[] { 1, 2, 4 }, session.Deliveries.Select(d => d.MessageId));
        Assert.Equal((ushort)17, session.Deliveries[0].PacketId);
        Assert.Equal(DeliveryState.AwaitingComp, session.Deliveries[0].State);
        Assert.Equal([(ushort)33], session.IncomingQoS2);
        Assert.Equal("t/3", Assert.Single(snapshot.Retained).Topic);
        Assert.Equal(3, snapshot.Messages.Count);
    }

    [Fact]
    public async Task Concurrent_submissions_from_many_tasks_all_complete_in_few_commits_and_all_survive()
    {
        const int Tasks = 64, PerTask = 100;
        long commits, operations;
        await using (var store = SqliteBrokerStore.Open(Options()))
        {
            for (var t = 0; t < Tasks; t++) await store.SaveSession(Session($"c{t}"));
            var before = store.Statistics;
            await Task.WhenAll(Enumerable.Range(0, Tasks).Select(t => Task.Run(async () =>
            {
                for (var i = 0; i < PerTask; i++)
                {
                    var id = t * 1000L + i;
                    await store.Enqueue(Message(id), [To($"c{t}")]);
                    if (i % 2 == 1) await store.RemoveDelivery($"c{t}", id);
                }
            })));
            commits = store.Statistics.Commits - before.Commits;
            operations = store.Statistics.Operations - before.Operations;
        }
        Assert.Equal(Tasks * PerTask * 3 / 2, operations);
        Assert.True(commits < operations / 4, $"{operations} operations took {commits} commits: no group commit");

        await using var reopened = SqliteBrokerStore.Open(Options());
        var snapshot = await reopened.LoadAsync(CancellationToken.None);
        Assert.Equal(Tasks, snapshot.Sessions.Count);
        foreach (var session in snapshot.Sessions)
        {
            var t = int.Parse(session.Session.ClientId[1..]);
            Assert.Equal(Enumerable.Range(0, PerTask).Where(i => i % 2 == 0).Select(i => t * 1000L + i), session.Deliveries.Select(d => d.MessageId));
        }
        Assert.Equal(Tasks * PerTask / 2, snapshot.Messages.Count);
    }

    [Fact]
    public async Task Flush_interval_and_batch_size_are_honoured()
    {
        var options = Options();
        options.FlushIntervalMs = 20;
        options.MaxBatchSize = 10;
        await using var store = SqliteBrokerStore.Open(options);
        await store.SaveSession(Session("c1"));
        await Task.WhenAll(Enumerable.Range(1, 100).Select(i => store.Enqueue(Message(i), [To("c1")]).AsTask()));
        Assert.True(store.Statistics.LargestBatch <= 10);
        Assert.Equal(100, (await store.LoadAsync(CancellationToken.None)).Messages.Count);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(200)]
    [InlineData(100_000)]
    public async Task Whether_the_writer_polls_or_sleeps_between_batches_every_submission_completes(int idlePollMicroseconds)
    {
        var options = Options();
        options.IdlePollMicroseconds = idlePollMicroseconds;
        await using var store = SqliteBrokerStore.Open(options);
        await store.SaveSession(Session("c1"));
        for (var i = 1; i <= 20; i++)
        {
            // Now and then the writer has been idle past its poll (asleep, or, at 100 ms, still polling).
            if (i % 5 == 0) await Task.Delay(30);
            await store.Enqueue(Message(i), [To("c1")]).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        }
        Assert.Equal(20, (await store.LoadAsync(CancellationToken.None)).Messages.Count);
    }

    [Fact]
    public void A_negative_idle_poll_is_refused()
    {
        var options = Options();
        options.IdlePollMicroseconds = -1;
        var refused = Assert.Throws<ArgumentOutOfRangeException>(() => SqliteBrokerStore.Open(options));
        Assert.Contains("Storage:IdlePollMicroseconds", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_format_version_stops_opening_with_a_clear_message()
    {
        await (SqliteBrokerStore.Open(Options())).DisposeAsync();
        ExecuteOnFile(_directory.Sub("gatehouse.db"), "UPDATE meta SET value = 99 WHERE key = 'format_version'");

        var e = Assert.Throws<StoreFormatException>(() => SqliteBrokerStore.Open(Options()));
        Assert.Contains("gatehouse.db", e.Message, StringComparison.Ordinal);
        Assert.Contains("format version 99", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        // Nothing was recreated.
        ExecuteOnFile(_directory.Sub("gatehouse.db"), "SELECT 1 FROM meta WHERE value = 99");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public async Task A_version_this_build_neither_reads_nor_migrates_is_refused_and_left_as_it_is(int version)
    {
        await (SqliteBrokerStore.Open(Options())).DisposeAsync();
        ExecuteOnFile(_directory.Sub("gatehouse.db"), $"UPDATE meta SET value = {version} WHERE key = 'format_version'");

        var e = Assert.Throws<StoreFormatException>(() => SqliteBrokerStore.Open(Options()));
        Assert.Contains($"format version {version} is not supported (this build reads versions 1 to 3)", e.Message, StringComparison.Ordinal);
        Assert.Contains(e.Message, Assert.Single(SqliteStoreMaintenance.Check(_directory.Path)), StringComparison.Ordinal);
        ExecuteOnFile(_directory.Sub("gatehouse.db"), $"SELECT 1 FROM meta WHERE value = {version}");
    }

    [Fact]
    public async Task Check_names_reference_counts_that_differ_and_triggers_that_do_not_belong_to_the_version()
    {
        await using (var store = SqliteBrokerStore.Open(Options()))
        {
            await store.SaveSession(Session("c1"));
            await store.Enqueue(Message(1), [To("c1")]);
            await store.Enqueue(Message(2), [To("c1")]);
        }
        Assert.Empty(SqliteStoreMaintenance.Check(_directory.Path));

        // Version 1's insert trigger left in a newer file would count every delivery twice.
        ExecuteOnFile(_directory.Sub("gatehouse.db"), """
            CREATE TRIGGER deliveries_added AFTER INSERT ON deliveries BEGIN
                UPDATE messages SET refs = refs + 1 WHERE id = new.message_id;
            END;
            UPDATE messages SET refs = 2 WHERE id = 2;
            """);
        Assert.Equal(
        [
            "triggers [deliveries_added, deliveries_removed] differ from format version 3's [deliveries_removed]",
            "1 message bodies whose reference count differs from their deliveries",
        ], SqliteStoreMaintenance.Check(_directory.Path));
    }

    [Fact]
    public void A_foreign_SQLite_database_is_not_taken_over()
    {
        ExecuteOnFile(_directory.Sub("gatehouse.db"), "CREATE TABLE other (x); INSERT INTO other VALUES (1)");
        var e = Assert.Throws<StoreFormatException>(() => SqliteBrokerStore.Open(Options()));
        Assert.Contains("not a Gatehouse store", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_with_a_garbage_header_is_reported_as_not_a_database()
    {
        var copy = await CopyOfPopulatedStore();
        using (var file = File.OpenWrite(Path.Combine(copy, "gatehouse.db"))) file.Write(new byte[] { 0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3, 4 });

        var e = Assert.Throws<StoreFormatException>(() => SqliteBrokerStore.Open(Options(copy)));
        Assert.Contains(Path.Combine(copy, "gatehouse.db"), e.Message, StringComparison.Ordinal);
        Assert.Contains("not a SQLite database", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_with_garbage_pages_fails_the_integrity_check()
    {
        var copy = await CopyOfPopulatedStore();
        var path = Path.Combine(copy, "gatehouse.db");
        var length = new FileInfo(path).Length;
        Assert.True(length > 16 * 4096, $"only {length} bytes");
        var random = new Random(7);
        using (var file = File.OpenWrite(path))
        {
            // Pages 2..16 hold the schema's tables and indexes; scribble over them.
            var garbage = new byte[15 * 4096];
            random.NextBytes(garbage);
            file.Position = 4096;
            file.Write(garbage);
        }

        var e = Assert.Throws<StoreFormatException>(() => SqliteBrokerStore.Open(Options(copy)));
        Assert.Contains(path, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
        Assert.Equal(length, new FileInfo(path).Length);
    }

    [Fact]
    public async Task A_write_ahead_log_without_its_database_is_not_silently_dropped()
    {
        await using (var store = SqliteBrokerStore.Open(Options())) await store.SaveSession(Session("c1"));
        File.WriteAllBytes(_directory.Sub("gatehouse.db-wal"), new byte[100]);
        File.Delete(_directory.Sub("gatehouse.db"));

        var e = Assert.Throws<StoreFormatException>(() => SqliteBrokerStore.Open(Options()));
        Assert.Contains("write-ahead log", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_store_on_the_same_directory_is_refused()
    {
        await using var store = SqliteBrokerStore.Open(Options());
        var e = Assert.Throws<StoreUnavailableException>(() => SqliteBrokerStore.Open(Options()));
        Assert.Contains("in use", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_full_disk_fails_the_batch_with_StoreUnavailableException_and_later_batches_succeed()
    {
        await using var store = SqliteBrokerStore.Open(Options());
        await store.SaveSession(Session("c1"));
        await store.Enqueue(Message(1), [To("c1")]);
        // SQLite reports a page-count limit exactly as it reports ENOSPC (SQLITE_FULL).
        await store.RunOnWriter(c => Execute(c, "PRAGMA max_page_count = " + Scalar(c, "PRAGMA page_count")));

        var full = await Assert.ThrowsAsync<StoreUnavailableException>(() => store.Enqueue(Message(2, size: 256 * 1024), [To("c1")]).AsTask());
        Assert.Contains("disk full", full.Message, StringComparison.Ordinal);
        Assert.Equal(1, store.Statistics.FailedBatches);

        await store.RunOnWriter(c => Execute(c, "PRAGMA max_page_count = 1073741823"));
        await store.Enqueue(Message(3, size: 256 * 1024), [To("c1")]);

        await store.DisposeAsync();
        await using var reopened = SqliteBrokerStore.Open(Options());
        var snapshot = await reopened.LoadAsync(CancellationToken.None);
        Assert.Equal(new long[] { 1, 3 }, snapshot.Sessions[0].Deliveries.Select(d => d.MessageId));
    }

    [Fact]
    public async Task A_read_only_database_fails_the_submission_with_StoreUnavailableException_not_the_store()
    {
        // The suite runs as root, for whom file permissions do not apply; query_only makes SQLite refuse writes
        // with SQLITE_READONLY, the error a read-only file system gives.
        await using var store = SqliteBrokerStore.Open(Options());
        await store.SaveSession(Session("c1"));
        await store.RunOnWriter(c => Execute(c, "PRAGMA query_only = 1"));

        var failed = await Assert.ThrowsAsync<StoreUnavailableException>(() => store.SaveSession(Session("c2")).AsTask());
        Assert.Contains("read-only", failed.Message, StringComparison.Ordinal);

        await store.RunOnWriter(c => Execute(c, "PRAGMA query_only = 0"));
        await store.SaveSession(Session("c3"));
        var snapshot = await store.LoadAsync(CancellationToken.None);
        Assert.Equal(["c1", "c3"], snapshot.Sessions.Select(s => s.Session.ClientId).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_failed_submission_nobody_waits_for_is_not_reported_again_as_an_unobserved_task_exception()
    {
        // The broker submits removals without waiting (StoreSubmission.Forget); the store logs the failed batch, and its
        // task must not come back from the finalizer as an unobserved exception.
        await using var store = SqliteBrokerStore.Open(Options());
        var unobserved = 0;
        EventHandler<UnobservedTaskExceptionEventArgs> count = (_, e) =>
        {
            if (e.Exception.InnerExceptions.Any(x => x.Message.Contains(store.DatabasePath, StringComparison.Ordinal))) Interlocked.Increment(ref unobserved);
        };
        TaskScheduler.UnobservedTaskException += count;
        try
        {
            await store.RunOnWriter(c => Execute(c, "PRAGMA query_only = 1"));
            SubmitWithoutWaiting(store, "c1");
            await store.RunOnWriter(c => Execute(c, "PRAGMA query_only = 0"));
            await store.DisposeAsync();
            SubmitWithoutWaiting(store, "c2"); // after close
            for (var i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
            Assert.Equal(0, Volatile.Read(ref unobserved));
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= count;
        }
    }

    // Not inlined: the submission's task must be unreachable once this returns, so the collector can finalize it.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void SubmitWithoutWaiting(SqliteBrokerStore store, string clientId) => _ = store.SaveSession(Session(clientId)).AsTask();

    [Fact]
    public async Task A_read_only_data_directory_is_reported_at_open_when_permissions_apply()
    {
        if (Environment.UserName == "root" || OperatingSystem.IsWindows()) return; // root ignores permissions
        var directory = _directory.Sub("ro");
        Directory.CreateDirectory(directory);
        File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        try
        {
            var e = Assert.Throws<StoreUnavailableException>(() => SqliteBrokerStore.Open(Options(directory)));
            Assert.Contains(directory, e.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.SetUnixFileMode(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        await Task.CompletedTask;
    }

    [Fact]
    public async Task Submissions_after_dispose_fault_instead_of_hanging()
    {
        var store = SqliteBrokerStore.Open(Options());
        await store.DisposeAsync();
        await Assert.ThrowsAsync<StoreUnavailableException>(() => store.SaveSession(Session("c1")).AsTask());
    }

    [Fact]
    public async Task Continuations_do_not_run_on_the_writer_thread()
    {
        await using var store = SqliteBrokerStore.Open(Options());
        string? writer = null;
        await store.RunOnWriter(_ => writer = Thread.CurrentThread.Name);
        Assert.Equal("Gatehouse store writer", writer);
        await store.SaveSession(Session("c1"));
        Assert.NotEqual(writer, Thread.CurrentThread.Name);
    }

    private async Task<string> CopyOfPopulatedStore()
    {
        var source = _directory.Sub("source");
        await using (var store = SqliteBrokerStore.Open(Options(source)))
        {
            await store.SaveSession(Session("c1"));
            for (var i = 0; i < 200; i++) await store.Enqueue(Message(i, size: 1000), [To("c1")]);
        }
        var copy = _directory.Sub("copy");
        Directory.CreateDirectory(copy);
        Assert.False(File.Exists(Path.Combine(source, "gatehouse.db-wal")), "the log should be checkpointed on close");
        File.Copy(Path.Combine(source, "gatehouse.db"), Path.Combine(copy, "gatehouse.db"));
        return copy;
    }

    private static void ExecuteOnFile(string path, string sql)
    {
        using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        Execute(connection, sql);
    }
}
