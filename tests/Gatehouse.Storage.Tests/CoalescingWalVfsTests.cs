using Gatehouse.Storage.Embedded;
using Microsoft.Data.Sqlite;
using static Gatehouse.Storage.Tests.SqlCommands;

namespace Gatehouse.Storage.Tests;

/// <summary>
/// The VFS that gathers a commit's log writes into one: what it writes must be what SQLite wrote, in the file before
/// the commit returns (another connection, with the default VFS, reads the log from the file), across runs larger
/// than its buffer and after a rolled-back transaction that spilled frames into the log. The write counts come from
/// the kernel's per-thread accounting (<c>/proc/thread-self/io</c>, <c>syscw</c>): SQLite runs on the calling thread.
/// </summary>
public sealed class CoalescingWalVfsTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _directory.Dispose();
    }

    [Fact]
    public void A_commit_reaches_the_log_file_as_one_write_where_the_default_VFS_makes_two_per_page()
    {
        var gathered = WritesForOneCommit(CoalescingWalVfs.UriFor(_directory.Sub("gathered.db")));
        var plain = WritesForOneCommit(_directory.Sub("plain.db"));

        // 64 rows of 2 KB: about 40 pages, a header and a page write each with the default VFS.
        Assert.True(plain >= 60, $"default VFS: {plain} writes");
        Assert.True(gathered <= 2, $"gathering VFS: {gathered} writes");
    }

    [Fact]
    public void Every_commit_is_readable_from_the_file_by_another_connection_when_it_returns()
    {
        var path = _directory.Sub("store.db");
        using var writer = OpenWriter(CoalescingWalVfs.UriFor(path));
        Execute(writer, "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
        using var reader = Open(path);

        var random = new Random(7);
        var expected = new Dictionary<long, byte[]>();
        for (var commit = 0; commit < 200; commit++)
        {
            using (var transaction = writer.BeginTransaction())
            {
                for (var row = 0; row < 1 + commit % 7; row++)
                {
                    var body = new byte[random.Next(1, 6000)];
                    random.NextBytes(body);
                    var id = Insert(writer, transaction, body);
                    expected[id] = body;
                }
                transaction.Commit();
            }
            Assert.Equal(expected.Count, Scalar(reader, "SELECT count(*) FROM t"));
        }
        AssertContent(reader, expected);
        Assert.Equal("ok", Text(reader, "PRAGMA integrity_check"));
    }

    [Fact]
    public void A_transaction_larger_than_the_buffer_is_written_in_runs_and_reads_back_whole()
    {
        var path = _directory.Sub("large.db");
        var expected = new Dictionary<long, byte[]>();
        var random = new Random(11);
        long writes;
        using (var writer = OpenWriter(CoalescingWalVfs.UriFor(path)))
        {
            Execute(writer, "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
            var before = ThreadWrites();
            using (var transaction = writer.BeginTransaction())
            {
                for (var row = 0; row < 400; row++) // about 4.8 MiB of pages
                {
                    var body = new byte[12_000];
                    random.NextBytes(body);
                    expected[Insert(writer, transaction, body)] = body;
                }
                transaction.Commit();
            }
            writes = ThreadWrites() - before;
            using var reader = Open(path);
            AssertContent(reader, expected);
        }
        // One write per 120 KiB run (about 41 for these 4.9 MB of frames), where the default VFS makes over 2,000.
        Assert.InRange(writes, 38, 50);
        using var reopened = Open(path);
        Assert.Equal("ok", Text(reopened, "PRAGMA integrity_check"));
        AssertContent(reopened, expected);
    }

    [Fact]
    public void Frames_spilled_by_a_rolled_back_transaction_do_not_reach_later_commits()
    {
        var path = _directory.Sub("rollback.db");
        var expected = new Dictionary<long, byte[]>();
        var random = new Random(13);
        using (var writer = OpenWriter(CoalescingWalVfs.UriFor(path)))
        {
            Execute(writer, "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
            Execute(writer, "PRAGMA cache_size = 8"); // pages: a large transaction spills into the log before it ends
            for (var round = 0; round < 5; round++)
            {
                using (var transaction = writer.BeginTransaction())
                {
                    var uncommitted = new Dictionary<long, byte[]>(expected);
                    for (var row = 0; row < 100; row++)
                    {
                        var body = RandomBytes(random, 5000);
                        uncommitted[Insert(writer, transaction, body)] = body;
                    }
                    // Reading every page back inside the transaction reads the spilled ones from the log.
                    AssertContent(writer, uncommitted, transaction);
                    transaction.Rollback();
                }
                using (var transaction = writer.BeginTransaction())
                {
                    for (var row = 0; row < 3; row++)
                    {
                        var body = RandomBytes(random, 3000);
                        expected[Insert(writer, transaction, body)] = body;
                    }
                    transaction.Commit();
                }
                using var reader = Open(path);
                AssertContent(reader, expected);
            }
        }
        using var reopened = Open(path);
        Assert.Equal("ok", Text(reopened, "PRAGMA integrity_check"));
        AssertContent(reopened, expected);
    }

    [Fact]
    public void A_path_with_characters_that_mean_something_in_a_URI_opens_that_file()
    {
        var path = _directory.Sub("odd %41 ?x=1 #frag.db");
        using (var writer = OpenWriter(CoalescingWalVfs.UriFor(path)))
        {
            Execute(writer, "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
        }
        Assert.True(File.Exists(path), string.Join(", ", Directory.GetFiles(_directory.Path).Select(Path.GetFileName)));
        using var reader = Open(path);
        Assert.Equal(0, Scalar(reader, "SELECT count(*) FROM t"));
    }

    private long WritesForOneCommit(string dataSource)
    {
        using var connection = OpenWriter(dataSource);
        Execute(connection, "CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB NOT NULL)");
        var random = new Random(3);
        var before = ThreadWrites();
        using (var transaction = connection.BeginTransaction())
        {
            for (var row = 0; row < 64; row++) Insert(connection, transaction, RandomBytes(random, 2000));
            transaction.Commit();
        }
        return ThreadWrites() - before;
    }

    private static SqliteConnection OpenWriter(string dataSource)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = dataSource, Pooling = false }.ToString());
        connection.Open();
        Assert.Equal("wal", Text(connection, "PRAGMA journal_mode = WAL"));
        Execute(connection, "PRAGMA synchronous = FULL");
        Execute(connection, "PRAGMA wal_autocheckpoint = 0"); // keep every frame in the log, where readers must find it
        return connection;
    }

    private static SqliteConnection Open(string path)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    private static long Insert(SqliteConnection connection, SqliteTransaction transaction, byte[] body)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "INSERT INTO t (body) VALUES ($body) RETURNING id";
        command.Parameters.AddWithValue("$body", body);
        return (long)command.ExecuteScalar()!;
    }

    private static void AssertContent(SqliteConnection reader, Dictionary<long, byte[]> expected, SqliteTransaction? transaction = null)
    {
        using var command = reader.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT id, body FROM t ORDER BY id";
        using var rows = command.ExecuteReader();
        var seen = 0;
        while (rows.Read())
        {
            var id = rows.GetInt64(0);
            Assert.True(expected.TryGetValue(id, out var body), $"row {id} was never committed");
            Assert.Equal(body, (byte[])rows.GetValue(1));
            seen++;
        }
        Assert.Equal(expected.Count, seen);
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    /// <summary>Write system calls this thread has made (Linux per-thread I/O accounting).</summary>
    private static long ThreadWrites()
    {
        foreach (var line in File.ReadLines("/proc/thread-self/io"))
        {
            if (line.StartsWith("syscw:", StringComparison.Ordinal)) return long.Parse(line.AsSpan(6).Trim());
        }
        throw new InvalidOperationException("/proc/thread-self/io has no syscw line");
    }
}
