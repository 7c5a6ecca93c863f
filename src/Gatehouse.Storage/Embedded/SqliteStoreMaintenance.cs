using Microsoft.Data.Sqlite;

namespace Gatehouse.Storage.Embedded;

/// <summary>What <c>gatehouse store stats</c> reports: row counts, file sizes and the format version.</summary>
public sealed record StoreFileStatistics(
    string DatabasePath,
    long FormatVersion,
    long Sessions,
    long Subscriptions,
    long Messages,
    long Deliveries,
    long InFlight,
    long Retained,
    long IncomingQoS2,
    long DatabaseBytes,
    long WalBytes,
    long PageSize,
    long FreePages);

/// <summary>
/// Offline inspection and upkeep of a store directory, for <c>gatehouse store stats|check|compact</c>. Reading (stats,
/// check) works beside a running server (WAL readers do not block the writer); compacting takes the directory's lock
/// and is refused while a server holds it. None of them creates a store where there is none.
/// </summary>
public static class SqliteStoreMaintenance
{
    /// <summary>Counts and sizes. Throws <see cref="StoreFormatException"/> for a file that is not a usable store.</summary>
    public static StoreFileStatistics Statistics(string dataDirectory)
    {
        var path = ExistingDatabase(dataDirectory);
        using var connection = OpenReadOnly(path);
        SqliteSchema.CheckVersion(connection, path);
        long Count(string sql) => Scalar(connection, sql);
        return new StoreFileStatistics(
            path,
            Count("SELECT value FROM meta WHERE key = 'format_version'"),
            Count("SELECT count(*) FROM sessions"),
            Count("SELECT count(*) FROM subscriptions"),
            Count("SELECT count(*) FROM messages"),
            Count("SELECT count(*) FROM deliveries"),
            Count("SELECT count(*) FROM deliveries WHERE state > 0"),
            Count("SELECT count(*) FROM retained"),
            Count("SELECT count(*) FROM incoming_qos2"),
            new FileInfo(path).Length,
            File.Exists(path + "-wal") ? new FileInfo(path + "-wal").Length : 0,
            Count("PRAGMA page_size"),
            Count("PRAGMA freelist_count"));
    }

    /// <summary>
    /// SQLite's full integrity check, the format version, and the store's own invariants: the triggers are those of the
    /// file's version; every delivery, subscription and incoming QoS 2 id belongs to a stored session; every delivery's
    /// message body exists; each body's reference count equals its deliveries; states, QoS and packet ids are valid.
    /// Returns the problems found (empty: healthy). An older version is checked as it is (opening the store migrates it).
    /// </summary>
    public static IReadOnlyList<string> Check(string dataDirectory)
    {
        var path = ExistingDatabase(dataDirectory);
        using var connection = OpenReadOnly(path);
        var problems = new List<string>();
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "PRAGMA integrity_check(100)";
            using var reader = command.ExecuteReader();
            var lines = new List<string>();
            while (reader.Read()) lines.Add(reader.GetString(0));
            if (lines is not ["ok"]) problems.AddRange(lines.Select(l => "integrity: " + l.ReplaceLineEndings(" ")));
        }
        long version;
        try
        {
            version = SqliteSchema.CheckVersion(connection, path);
        }
        catch (StoreFormatException e)
        {
            problems.Add(e.Message);
            return problems;
        }
        // A missing or extra trigger on `deliveries` makes every later change miscount `refs` (checked below only for
        // what is already there), e.g. version 1's insert trigger left in a version 2 file counts each delivery twice.
        var triggers = new List<string>();
        using (var command = connection.CreateCommand())
        {
            command.CommandText = "SELECT name FROM sqlite_schema WHERE type = 'trigger' ORDER BY name";
            using var reader = command.ExecuteReader();
            while (reader.Read()) triggers.Add(reader.GetString(0));
        }
        var expected = SqliteSchema.Triggers(version);
        if (!triggers.SequenceEqual(expected.Order(StringComparer.Ordinal)))
        {
            problems.Add($"triggers [{string.Join(", ", triggers)}] differ from format version {version}'s [{string.Join(", ", expected)}]");
        }
        (string Sql, string Problem)[] invariants =
        [
            ("SELECT count(*) FROM deliveries d WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = d.message_id)",
                "deliveries whose message body is missing"),
            ("SELECT count(*) FROM deliveries d WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.client_id = d.client_id)",
                "deliveries of sessions that do not exist"),
            ("SELECT count(*) FROM subscriptions x WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.client_id = x.client_id)",
                "subscriptions of sessions that do not exist"),
            ("SELECT count(*) FROM incoming_qos2 q WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.client_id = q.client_id)",
                "incoming QoS 2 packet ids of sessions that do not exist"),
            ("""
             SELECT count(*) FROM messages m LEFT JOIN (SELECT message_id, count(*) AS n FROM deliveries GROUP BY message_id) d
                 ON d.message_id = m.id WHERE m.refs <> coalesce(d.n, 0)
             """, "message bodies whose reference count differs from their deliveries"),
            ("SELECT count(*) FROM messages WHERE refs <= 0", "message bodies no delivery references"),
            ("SELECT count(*) FROM deliveries WHERE state NOT IN (0, 1, 2) OR qos NOT IN (0, 1, 2) OR (state > 0 AND packet_id NOT BETWEEN 1 AND 65535)",
                "deliveries with an invalid state, QoS or packet id"),
            ("SELECT count(*) FROM (SELECT 1 FROM deliveries WHERE state > 0 GROUP BY client_id, packet_id HAVING count(*) > 1)",
                "packet ids used by two in-flight deliveries of one session"),
            ("SELECT count(*) FROM messages WHERE qos NOT IN (0, 1, 2)", "message bodies with an invalid QoS"),
            ("SELECT count(*) FROM sessions WHERE protocol_version NOT IN (3, 4, 5)", "sessions with an unknown protocol version"),
        ];
        foreach (var (sql, problem) in invariants)
        {
            var count = Scalar(connection, sql);
            if (count > 0) problems.Add($"{count} {problem}");
        }
        return problems;
    }

    /// <summary>
    /// Checkpoints the write-ahead log and rebuilds the file without free pages (VACUUM). Refused with
    /// <see cref="StoreUnavailableException"/> while a server uses the directory. Returns the bytes before and after
    /// (database plus log).
    /// </summary>
    public static (long Before, long After) Compact(string dataDirectory)
    {
        var path = ExistingDatabase(dataDirectory);
        using var lockFile = SqliteBrokerStore.AcquireLock(Path.GetDirectoryName(path)!);
        var before = Size(path);
        using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
        }.ToString()))
        {
            try
            {
                connection.Open();
                SqliteSchema.CheckVersion(connection, path);
                Execute(connection, "PRAGMA wal_checkpoint(TRUNCATE)");
                Execute(connection, "VACUUM");
                Execute(connection, "PRAGMA wal_checkpoint(TRUNCATE)");
            }
            catch (SqliteException e) when (SqliteSchema.IsCorruption(e))
            {
                throw new StoreFormatException(path, $"the file is corrupt or not a database ({e.Message.ReplaceLineEndings(" ")})", e);
            }
            catch (SqliteException e)
            {
                throw new StoreUnavailableException($"Store {path}: cannot compact ({e.Message.ReplaceLineEndings(" ")})", e);
            }
        }
        return (before, Size(path));
    }

    private static long Size(string path) =>
        new FileInfo(path).Length + (File.Exists(path + "-wal") ? new FileInfo(path + "-wal").Length : 0);

    private static string ExistingDatabase(string dataDirectory)
    {
        var path = Path.Combine(Path.GetFullPath(dataDirectory), SqliteStoreOptions.FileName);
        if (!File.Exists(path)) throw new StoreUnavailableException($"No store at {path}");
        if (!SqliteSchema.CheckFiles(path) || new FileInfo(path).Length == 0)
            throw new StoreFormatException(path, "the file is empty");
        return path;
    }

    private static SqliteConnection OpenReadOnly(string path)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false,
        }.ToString());
        try
        {
            connection.Open();
            return connection;
        }
        catch (SqliteException e)
        {
            connection.Dispose();
            if (SqliteSchema.IsCorruption(e)) throw new StoreFormatException(path, $"the file is corrupt or not a database ({e.Message.ReplaceLineEndings(" ")})", e);
            throw new StoreUnavailableException($"Store {path}: cannot open ({e.Message.ReplaceLineEndings(" ")})", e);
        }
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static long Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
    }
}
