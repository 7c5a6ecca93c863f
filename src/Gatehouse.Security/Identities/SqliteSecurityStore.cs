using System.Globalization;
using System.Text.Json;
using Gatehouse.Security.Audit;
using Gatehouse.Security.Authorization;
using Microsoft.Data.Sqlite;

namespace Gatehouse.Security.Identities;

/// <summary>
/// <c>security.db</c> in the data directory: identities, certificate thumbprints, ACL rules, session owners and the
/// audit log. WAL with synchronous=FULL (a committed change survives a crash); format version in <c>format_version</c>.
/// The server and the CLI open it at the same time: every identity/ACL change increments <c>meta.change_counter</c> in
/// the same transaction, which the server polls.
/// </summary>
public sealed class SqliteSecurityStore : IIdentityStore, IAuditStore
{
    public const string FileName = "security.db";
    public const int FormatVersion = 1;

    private const string Schema = """
        CREATE TABLE format_version (version INTEGER NOT NULL);
        CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
        CREATE TABLE identities (
            name TEXT PRIMARY KEY,
            enabled INTEGER NOT NULL,
            groups TEXT NOT NULL,
            metadata TEXT NOT NULL,
            password_hash TEXT,
            updated_at TEXT NOT NULL,
            scram_sha256 TEXT
        ) STRICT;
        CREATE TABLE certificates (
            thumbprint TEXT PRIMARY KEY,
            identity TEXT NOT NULL REFERENCES identities(name) ON DELETE CASCADE
        ) STRICT;
        CREATE TABLE acl_rules (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            subject_kind TEXT NOT NULL,
            subject TEXT,
            deny INTEGER NOT NULL,
            access INTEGER NOT NULL,
            filter TEXT NOT NULL
        ) STRICT;
        CREATE TABLE session_owners (client_id TEXT PRIMARY KEY, identity TEXT NOT NULL) STRICT;
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            identity TEXT,
            client_id TEXT,
            remote TEXT,
            listener TEXT,
            reason INTEGER NOT NULL,
            detail TEXT
        ) STRICT;
        INSERT INTO meta (key, value) VALUES ('change_counter', 0);
        """;

    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();

    private SqliteSecurityStore(SqliteConnection connection, string path)
    {
        _connection = connection;
        Path = path;
    }

    public string Path { get; }

    /// <summary>Opens (creating if absent) <c>security.db</c> in <paramref name="dataDirectory"/>.</summary>
    public static SqliteSecurityStore Open(string dataDirectory)
    {
        Directory.CreateDirectory(dataDirectory);
        var path = System.IO.Path.Combine(dataDirectory, FileName);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 10,
        }.ToString());
        try
        {
            connection.Open();
            Execute(connection, "PRAGMA busy_timeout = 10000");
            var mode = Scalar(connection, "PRAGMA journal_mode = WAL")?.ToString();
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
                throw new InvalidOperationException($"{path}: cannot switch to WAL (journal_mode {mode})");
            Execute(connection, "PRAGMA synchronous = FULL");
            Execute(connection, "PRAGMA foreign_keys = ON");
            using (var tx = connection.BeginTransaction(deferred: false))
            {
                var tables = Convert.ToInt64(Scalar(connection, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'format_version'", tx), CultureInfo.InvariantCulture);
                if (tables == 0)
                {
                    Execute(connection, Schema + $"INSERT INTO format_version (version) VALUES ({FormatVersion});", tx);
                }
                else
                {
                    var version = Convert.ToInt64(Scalar(connection, "SELECT max(version) FROM format_version", tx), CultureInfo.InvariantCulture);
                    if (version != FormatVersion)
                        throw new InvalidOperationException($"{path} has security format version {version}; this build reads version {FormatVersion}");
                    // Additive column (SCRAM-SHA-256) on databases created before it: older builds name their columns and ignore it.
                    var hasScram = Convert.ToInt64(Scalar(connection, "SELECT count(*) FROM pragma_table_info('identities') WHERE name = 'scram_sha256'", tx), CultureInfo.InvariantCulture);
                    if (hasScram == 0) Execute(connection, "ALTER TABLE identities ADD COLUMN scram_sha256 TEXT", tx);
                }
                tx.Commit();
            }
            return new SqliteSecurityStore(connection, path);
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public long ChangeCounter
    {
        get
        {
            lock (_lock) return Convert.ToInt64(Scalar(_connection, "SELECT value FROM meta WHERE key = 'change_counter'"), CultureInfo.InvariantCulture);
        }
    }

    public IReadOnlyList<Identity> ListIdentities()
    {
        lock (_lock)
        {
            var thumbprints = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            using (var command = _connection.CreateCommand())
            {
                command.CommandText = "SELECT identity, thumbprint FROM certificates ORDER BY thumbprint";
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    var name = reader.GetString(0);
                    if (!thumbprints.TryGetValue(name, out var list)) thumbprints[name] = list = [];
                    list.Add(reader.GetString(1));
                }
            }
            var result = new List<Identity>();
            using (var command = _connection.CreateCommand())
            {
                command.CommandText = "SELECT name, enabled, groups, metadata, password_hash, scram_sha256 FROM identities ORDER BY name";
                using var reader = command.ExecuteReader();
                while (reader.Read()) result.Add(ReadIdentity(reader, thumbprints));
            }
            return result;
        }
    }

    public Identity? FindIdentity(string name) => ListIdentities().FirstOrDefault(i => i.Name == name);

    public void SaveIdentity(Identity identity)
    {
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction(deferred: false);
            Execute(_connection, """
                INSERT INTO identities (name, enabled, groups, metadata, password_hash, scram_sha256, updated_at)
                VALUES ($name, $enabled, $groups, $metadata, $hash, $scram, $at)
                ON CONFLICT (name) DO UPDATE SET enabled = excluded.enabled, groups = excluded.groups,
                    metadata = excluded.metadata, password_hash = excluded.password_hash, scram_sha256 = excluded.scram_sha256,
                    updated_at = excluded.updated_at
                """, tx,
                ("$name", identity.Name), ("$enabled", identity.Enabled ? 1 : 0),
                ("$groups", JsonSerializer.Serialize(identity.Groups)), ("$metadata", JsonSerializer.Serialize(identity.Metadata)),
                ("$hash", identity.PasswordHash), ("$scram", identity.ScramSha256), ("$at", DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture)));
            Execute(_connection, "DELETE FROM certificates WHERE identity = $name", tx, ("$name", identity.Name));
            foreach (var thumbprint in identity.CertificateThumbprints.Distinct(StringComparer.OrdinalIgnoreCase))
            {
                Execute(_connection, "INSERT OR REPLACE INTO certificates (thumbprint, identity) VALUES ($t, $name)", tx,
                    ("$t", Identity.NormalizeThumbprint(thumbprint)), ("$name", identity.Name));
            }
            BumpCounter(tx);
            tx.Commit();
        }
    }

    public bool RemoveIdentity(string name)
    {
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction(deferred: false);
            var removed = Execute(_connection, "DELETE FROM identities WHERE name = $name", tx, ("$name", name)) > 0;
            if (removed) BumpCounter(tx);
            tx.Commit();
            return removed;
        }
    }

    public IReadOnlyList<AclRule> ListRules()
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT id, subject_kind, subject, deny, access, filter FROM acl_rules ORDER BY id";
            using var reader = command.ExecuteReader();
            var rules = new List<AclRule>();
            while (reader.Read())
            {
                if (!Enum.TryParse<AclSubjectKind>(reader.GetString(1), ignoreCase: true, out var kind)) continue;
                rules.Add(new AclRule(kind, reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetInt64(3) != 0,
                    (AclAccess)reader.GetInt64(4), reader.GetString(5)) { Id = reader.GetInt64(0), Source = "store" });
            }
            return rules;
        }
    }

    public long AddRule(AclRule rule)
    {
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction(deferred: false);
            Execute(_connection, "INSERT INTO acl_rules (subject_kind, subject, deny, access, filter) VALUES ($k, $s, $d, $a, $f)", tx,
                ("$k", rule.SubjectKind.ToString()), ("$s", rule.Subject), ("$d", rule.Deny ? 1 : 0), ("$a", (long)rule.Access), ("$f", rule.Filter));
            var id = Convert.ToInt64(Scalar(_connection, "SELECT last_insert_rowid()", tx), CultureInfo.InvariantCulture);
            BumpCounter(tx);
            tx.Commit();
            return id;
        }
    }

    public bool RemoveRule(long id)
    {
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction(deferred: false);
            var removed = Execute(_connection, "DELETE FROM acl_rules WHERE id = $id", tx, ("$id", id)) > 0;
            if (removed) BumpCounter(tx);
            tx.Commit();
            return removed;
        }
    }

    public IReadOnlyDictionary<string, string> LoadSessionOwners()
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = "SELECT client_id, identity FROM session_owners";
            using var reader = command.ExecuteReader();
            var owners = new Dictionary<string, string>(StringComparer.Ordinal);
            while (reader.Read()) owners[reader.GetString(0)] = reader.GetString(1);
            return owners;
        }
    }

    public void SetSessionOwner(string clientId, string? identity)
    {
        lock (_lock)
        {
            if (identity is null) Execute(_connection, "DELETE FROM session_owners WHERE client_id = $c", null, ("$c", clientId));
            else Execute(_connection, "INSERT OR REPLACE INTO session_owners (client_id, identity) VALUES ($c, $i)", null, ("$c", clientId), ("$i", identity));
        }
    }

    public void AppendAudit(IReadOnlyList<AuditEvent> events, int retentionRows)
    {
        if (events.Count == 0) return;
        lock (_lock)
        {
            using var tx = _connection.BeginTransaction(deferred: false);
            using var command = _connection.CreateCommand();
            command.Transaction = tx;
            command.CommandText = """
                INSERT INTO audit (at, kind, identity, client_id, remote, listener, reason, detail)
                VALUES ($at, $kind, $identity, $client, $remote, $listener, $reason, $detail)
                """;
            var parameters = new[] { "$at", "$kind", "$identity", "$client", "$remote", "$listener", "$reason", "$detail" }
                .Select(name => command.Parameters.Add(new SqliteParameter { ParameterName = name })).ToArray();
            foreach (var e in events)
            {
                parameters[0].Value = e.At.ToString("O", CultureInfo.InvariantCulture);
                parameters[1].Value = e.Kind.ToString();
                parameters[2].Value = (object?)e.Identity ?? DBNull.Value;
                parameters[3].Value = (object?)e.ClientId ?? DBNull.Value;
                parameters[4].Value = (object?)e.RemoteAddress ?? DBNull.Value;
                parameters[5].Value = (object?)e.Listener ?? DBNull.Value;
                parameters[6].Value = e.ReasonCode;
                parameters[7].Value = (object?)e.Detail ?? DBNull.Value;
                command.ExecuteNonQuery();
            }
            // Bounded retention: keep the newest retentionRows rows.
            Execute(_connection, "DELETE FROM audit WHERE id <= (SELECT max(id) FROM audit) - $keep", tx, ("$keep", (long)retentionRows));
            tx.Commit();
        }
    }

    public IReadOnlyList<AuditEvent> ReadAudit(int limit) => QueryAudit(null, null, null, limit);

    /// <summary>The newest <paramref name="limit"/> audit rows matching every given filter, oldest first.</summary>
    public IReadOnlyList<AuditEvent> QueryAudit(DateTimeOffset? since, string? identity, AuditKind? kind, int limit)
    {
        lock (_lock)
        {
            using var command = _connection.CreateCommand();
            var where = new List<string>();
            if (since is { } from)
            {
                // Rows are written as UTC round-trip strings, which sort as text.
                where.Add("at >= $since");
                command.Parameters.AddWithValue("$since", from.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture));
            }
            if (identity is not null)
            {
                where.Add("identity = $identity");
                command.Parameters.AddWithValue("$identity", identity);
            }
            if (kind is { } k)
            {
                where.Add("kind = $kind");
                command.Parameters.AddWithValue("$kind", k.ToString());
            }
            command.CommandText = "SELECT at, kind, identity, client_id, remote, listener, reason, detail FROM audit"
                + (where.Count == 0 ? "" : " WHERE " + string.Join(" AND ", where)) + " ORDER BY id DESC LIMIT $limit";
            command.Parameters.AddWithValue("$limit", limit);
            using var reader = command.ExecuteReader();
            var events = new List<AuditEvent>();
            while (reader.Read())
            {
                events.Add(new AuditEvent(
                    DateTimeOffset.Parse(reader.GetString(0), CultureInfo.InvariantCulture),
                    Enum.TryParse<AuditKind>(reader.GetString(1), out var rowKind) ? rowKind : AuditKind.AuthenticationFailed,
                    reader.IsDBNull(2) ? null : reader.GetString(2),
                    reader.IsDBNull(3) ? null : reader.GetString(3),
                    reader.IsDBNull(4) ? null : reader.GetString(4),
                    reader.IsDBNull(5) ? null : reader.GetString(5),
                    (byte)reader.GetInt64(6),
                    reader.IsDBNull(7) ? null : reader.GetString(7)));
            }
            events.Reverse();
            return events;
        }
    }

    public void Dispose()
    {
        lock (_lock) _connection.Dispose();
    }

    private void BumpCounter(SqliteTransaction tx) =>
        Execute(_connection, "UPDATE meta SET value = value + 1 WHERE key = 'change_counter'", tx);

    private static Identity ReadIdentity(SqliteDataReader reader, Dictionary<string, List<string>> thumbprints)
    {
        var name = reader.GetString(0);
        return new Identity
        {
            Name = name,
            Enabled = reader.GetInt64(1) != 0,
            Groups = JsonSerializer.Deserialize<List<string>>(reader.GetString(2)) ?? [],
            Metadata = JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(3)) ?? [],
            PasswordHash = reader.IsDBNull(4) ? null : reader.GetString(4),
            ScramSha256 = reader.IsDBNull(5) ? null : reader.GetString(5),
            CertificateThumbprints = thumbprints.GetValueOrDefault(name) ?? [],
        };
    }

    private static int Execute(SqliteConnection connection, string sql, SqliteTransaction? tx = null, params (string Name, object? Value)[] parameters)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql, SqliteTransaction? tx = null)
    {
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        return command.ExecuteScalar();
    }
}
