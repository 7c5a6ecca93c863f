using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Storage.Embedded;

/// <summary>
/// Creates, checks, migrates and opens the database file. Format version 3; the layout is described in
/// docs/ARCHITECTURE.md (storage section) and below. An existing file is never recreated: an older version is migrated
/// in one transaction, anything unexpected stops start-up with a <see cref="StoreFormatException"/>.
/// </summary>
internal static class SqliteSchema
{
    /// <summary>
    /// 1: triggers kept <c>messages.refs</c> on insert and delete of a delivery. 2: no insert trigger; the writer sets
    /// <c>refs</c> itself (<see cref="StoreCommands.Enqueue"/>), which saves an UPDATE of the body per queued delivery.
    /// 3: <c>sessions.will_delay</c> and <c>will_expiry</c> keep a connected client's will (see <see cref="ArmedWillRecord"/>).
    /// </summary>
    public const int FormatVersion = 3;

    /// <summary>The oldest version <see cref="Open"/> migrates from; the maintenance commands read it as it is.</summary>
    public const int OldestReadableVersion = 1;

    /// <summary>PRAGMA application_id of a Gatehouse store ("GHST").</summary>
    public const int ApplicationId = 0x47485354;

    // Times are Unix milliseconds (UTC). A message body is stored once in `messages` and referenced by `deliveries`;
    // `refs` counts the referencing deliveries. The writer sets it when it adds deliveries (no trigger: the body row is
    // written once, with the count of the deliveries inserted with it); the trigger decrements it on every delete,
    // bulk ones by session included, and deletes the body with its last delivery. (Releasing in code instead, from
    // DELETE … RETURNING, measured no faster in StoreDrainBenchmarks, so the trigger stays.)
    // `seq` orders a session's queue as the broker queued it (a message can be queued again later, e.g. a shared
    // subscription moving it to another member, so message ids alone do not give the order).
    // A session's will is pending (`will_publish_at` set: the connection closed and the will waits for its delay) or, from
    // version 3, armed (`will_delay` set and `will_publish_at` null: the client is connected; `will_expiry` is the will's
    // Message Expiry Interval in seconds, since its expiry time is known only once it is published).
    private const string CreateSql = """
        CREATE TABLE meta (
            key   TEXT PRIMARY KEY,
            value ANY NOT NULL
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE sessions (
            client_id        TEXT PRIMARY KEY,
            protocol_version INTEGER NOT NULL,
            expiry_interval  INTEGER NOT NULL,
            disconnected_at  INTEGER,
            will_publish_at  INTEGER,
            will_message_id  INTEGER,
            will_topic       TEXT,
            will_payload     BLOB,
            will_qos         INTEGER,
            will_retain      INTEGER,
            will_properties  BLOB,
            will_expires_at  INTEGER,
            will_publisher   TEXT,
            will_delay       INTEGER,
            will_expiry      INTEGER
        ) STRICT;

        CREATE TABLE subscriptions (
            client_id           TEXT NOT NULL,
            filter              TEXT NOT NULL,
            max_qos             INTEGER NOT NULL,
            no_local            INTEGER NOT NULL,
            retain_as_published INTEGER NOT NULL,
            retain_handling     INTEGER NOT NULL,
            subscription_id     INTEGER,
            PRIMARY KEY (client_id, filter)
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE messages (
            id          INTEGER PRIMARY KEY,
            topic       TEXT NOT NULL,
            payload     BLOB NOT NULL,
            qos         INTEGER NOT NULL,
            retain      INTEGER NOT NULL,
            properties  BLOB,
            expires_at  INTEGER,
            publisher   TEXT,
            refs        INTEGER NOT NULL DEFAULT 0
        ) STRICT;

        CREATE TABLE deliveries (
            client_id        TEXT NOT NULL,
            message_id       INTEGER NOT NULL,
            seq              INTEGER NOT NULL,
            qos              INTEGER NOT NULL,
            retain           INTEGER NOT NULL,
            subscription_ids BLOB,
            share_group      TEXT,
            packet_id        INTEGER NOT NULL DEFAULT 0,
            state            INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (client_id, message_id)
        ) STRICT, WITHOUT ROWID;

        CREATE TRIGGER deliveries_removed AFTER DELETE ON deliveries BEGIN
            DELETE FROM messages WHERE id = old.message_id AND refs <= 1;
            UPDATE messages SET refs = refs - 1 WHERE id = old.message_id;
        END;

        CREATE TABLE retained (
            topic       TEXT PRIMARY KEY,
            message_id  INTEGER NOT NULL,
            payload     BLOB NOT NULL,
            qos         INTEGER NOT NULL,
            retain      INTEGER NOT NULL,
            properties  BLOB,
            expires_at  INTEGER,
            publisher   TEXT
        ) STRICT;

        CREATE TABLE incoming_qos2 (
            client_id TEXT NOT NULL,
            packet_id INTEGER NOT NULL,
            PRIMARY KEY (client_id, packet_id)
        ) STRICT, WITHOUT ROWID;
        """;

    private static readonly byte[] SqliteHeader = Encoding.ASCII.GetBytes("SQLite format 3\0");

    /// <summary>Opens (creating if absent) the store of <paramref name="options"/>, checked and ready for writing.</summary>
    public static SqliteConnection Open(SqliteStoreOptions options, ILogger logger)
    {
        var path = options.DatabasePath;
        var existed = CheckFiles(path);

        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            // Through the VFS that writes each commit's log frames as one write (synchronous = FULL below).
            DataSource = CoalescingWalVfs.UriFor(path),
            Mode = SqliteOpenMode.ReadWriteCreate,
            // One connection for the life of the store: pooling would keep the file open after Dispose.
            Pooling = false,
        }.ToString());
        try
        {
            connection.Open();
            if (existed && options.QuickCheckOnOpen) QuickCheck(connection, path);
            var tables = Scalar<long>(connection, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'");
            if (tables == 0)
            {
                Configure(connection, path);
                Create(connection);
                if (existed) logger.LogWarning("Store {Path} was an empty database file; initialized format version {Version}", path, FormatVersion);
                else logger.LogInformation("Created store {Path} (format version {Version})", path, FormatVersion);
            }
            else
            {
                var version = CheckVersion(connection, path);
                Configure(connection, path);
                if (version < FormatVersion) Migrate(connection, path, version, logger);
            }
            return connection;
        }
        catch (SqliteException e) when (IsCorruption(e))
        {
            connection.Dispose();
            throw new StoreFormatException(path, $"the file is corrupt or not a database ({e.Message.ReplaceLineEndings(" ")})", e);
        }
        catch (SqliteException e)
        {
            connection.Dispose();
            throw new StoreUnavailableException($"Store {path}: cannot open ({e.Message.ReplaceLineEndings(" ")})", e);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>True when the database file exists with content; throws for files that cannot be a store.</summary>
    internal static bool CheckFiles(string path)
    {
        var file = new FileInfo(path);
        if (!file.Exists)
        {
            // A log without its database: the database was deleted or moved. Opening would start empty and the log's
            // content would be lost or, worse, applied to a new file.
            if (File.Exists(path + "-wal") && new FileInfo(path + "-wal").Length > 0)
            {
                throw new StoreFormatException(path, "the database file is missing but its write-ahead log (-wal) exists; restore the database file or move the log away");
            }
            return false;
        }
        if (file.Length == 0) return true;
        Span<byte> header = stackalloc byte[16];
        int read;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
        {
            read = stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        }
        if (read < header.Length || !header.SequenceEqual(SqliteHeader))
        {
            throw new StoreFormatException(path, "the file is not a SQLite database (bad header)");
        }
        return true;
    }

    private static void QuickCheck(SqliteConnection connection, string path)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA quick_check(5)";
        var problems = new List<string>();
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read()) problems.Add(reader.GetString(0));
        }
        if (problems is ["ok"]) return;
        throw new StoreFormatException(path, $"the integrity check failed: {string.Join("; ", problems).ReplaceLineEndings(" ")}");
    }

    /// <summary>Returns the file's format version, one this build reads (possibly after <see cref="Migrate"/>); throws otherwise.</summary>
    internal static long CheckVersion(SqliteConnection connection, string path)
    {
        var applicationId = Scalar<long>(connection, "PRAGMA application_id");
        var hasMeta = Scalar<long>(connection, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'meta'") == 1;
        if (applicationId != ApplicationId || !hasMeta)
        {
            throw new StoreFormatException(path, "the file is a SQLite database but not a Gatehouse store (no format version)");
        }
        var version = Scalar<object?>(connection, "SELECT value FROM meta WHERE key = 'format_version'");
        if (version is not long v)
        {
            throw new StoreFormatException(path, "the format version is missing");
        }
        if (v is < OldestReadableVersion or > FormatVersion)
        {
            throw new StoreFormatException(path, $"format version {v} is not supported (this build reads versions {OldestReadableVersion} to {FormatVersion}); use a matching Gatehouse version");
        }
        return v;
    }

    /// <summary>
    /// The change from each version to the next, indexed by the version it starts from. Existing data never needs
    /// rewriting: version 1's insert trigger kept <c>refs</c> exact, and version 2 keeps the same meaning; version 3 only
    /// adds columns, null in every existing row.
    /// </summary>
    private static readonly Dictionary<long, string> Migrations = new()
    {
        [1] = "DROP TRIGGER deliveries_added",
        // A connected client's will (will_delay set, will_publish_at null); existing rows hold none.
        [2] = "ALTER TABLE sessions ADD COLUMN will_delay INTEGER; ALTER TABLE sessions ADD COLUMN will_expiry INTEGER",
    };

    /// <summary>
    /// Brings a file of an older version to <see cref="FormatVersion"/> in one transaction: a crash or error leaves it at
    /// its old version, to be migrated again at the next start. Logged, since an older build cannot open it afterwards.
    /// </summary>
    private static void Migrate(SqliteConnection connection, string path, long from, ILogger logger)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            using var transaction = connection.BeginTransaction(deferred: false);
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            // Read again under the write lock; the lock file already keeps other Gatehouse processes out.
            command.CommandText = "SELECT value FROM meta WHERE key = 'format_version'";
            if (command.ExecuteScalar() is not long current || current != from)
            {
                throw new StoreFormatException(path, $"the format version changed while it was being migrated from {from}");
            }
            for (var version = from; version < FormatVersion; version++)
            {
                command.CommandText = Migrations[version];
                command.ExecuteNonQuery();
            }
            command.CommandText = $"UPDATE meta SET value = {FormatVersion} WHERE key = 'format_version'";
            command.ExecuteNonQuery();
            transaction.Commit();
        }
        catch (SqliteException e) when (!IsCorruption(e))
        {
            throw new StoreUnavailableException(
                $"Store {path}: migrating format version {from} to {FormatVersion} failed, the file is unchanged ({e.Message.ReplaceLineEndings(" ")})", e);
        }
        logger.LogInformation("Migrated store {Path} from format version {From} to {To} in {Elapsed} ms (older Gatehouse versions cannot open it now)",
            path, from, FormatVersion, started.ElapsedMilliseconds);
    }

    /// <summary>The triggers a file of <paramref name="version"/> has; any other set miscounts <c>messages.refs</c>.</summary>
    internal static string[] Triggers(long version) =>
        version == 1 ? ["deliveries_added", "deliveries_removed"] : ["deliveries_removed"];

    private static void Configure(SqliteConnection connection, string path)
    {
        var mode = Scalar<string>(connection, "PRAGMA journal_mode = WAL");
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
        {
            throw new StoreUnavailableException($"Store {path}: write-ahead logging is not available on this file system (journal mode {mode})");
        }
        // synchronous=FULL: in WAL mode NORMAL skips the fsync of the log at each commit (it syncs only at
        // checkpoints), so a power loss can roll back the last commits, and with them messages we already
        // acknowledged. FULL syncs the log on every commit; group commit spreads that one fsync over a whole batch.
        Execute(connection, "PRAGMA synchronous = FULL");
        Execute(connection, "PRAGMA temp_store = MEMORY");
        Execute(connection, "PRAGMA cache_size = -32768"); // 32 MiB
        // Truncate the log back to 64 MiB after a checkpoint, so a burst does not leave a huge -wal file behind.
        Execute(connection, "PRAGMA journal_size_limit = 67108864");
    }

    private static void Create(SqliteConnection connection)
    {
        using var transaction = connection.BeginTransaction();
        using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = CreateSql
                + $"\nINSERT INTO meta (key, value) VALUES ('format_version', {FormatVersion});"
                + $"\nINSERT INTO meta (key, value) VALUES ('created_at', {DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()});"
                + $"\nPRAGMA application_id = {ApplicationId};";
            command.ExecuteNonQuery();
        }
        transaction.Commit();
    }

    internal static bool IsCorruption(SqliteException e) =>
        e.SqliteErrorCode is 11 /* SQLITE_CORRUPT */ or 26 /* SQLITE_NOTADB */;

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static T Scalar<T>(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (T)command.ExecuteScalar()!;
    }
}
