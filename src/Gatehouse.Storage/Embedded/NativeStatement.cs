using System.Buffers;
using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Gatehouse.Storage.Embedded;

/// <summary>
/// One prepared SQLite statement driven through SQLitePCLRaw, its parameters bound by position. The writer runs several
/// statements per stored message; through <see cref="SqliteCommand"/> each execution looked every parameter up by name
/// (a UTF-8 copy of the name each time) and built a data reader, which cost more than SQLite's own work. Errors surface
/// as <see cref="SqliteException"/> with SQLite's code, as they did through the command. Used only by the writer thread.
/// </summary>
internal sealed class NativeStatement : IDisposable
{
    // Strings up to this many UTF-8 bytes are encoded on the stack; longer ones (rare: topics) in a rented array.
    private const int StackEncodeLimit = 512;

    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _statement;

    /// <param name="parameters">
    /// The statement's parameter names in order of first appearance, which is their position: checked here so that the
    /// SQL and the callers' positions cannot drift apart.
    /// </param>
    public NativeStatement(SqliteConnection connection, string sql, params string[] parameters)
    {
        _db = connection.Handle ?? throw new InvalidOperationException("The connection is not open.");
        var rc = raw.sqlite3_prepare_v3(_db, sql, raw.SQLITE_PREPARE_PERSISTENT, out _statement, out string tail);
        SqliteException.ThrowExceptionForRC(rc, _db);
        try
        {
            if (!string.IsNullOrWhiteSpace(tail)) throw new ArgumentException($"One statement expected, found more: {tail}", nameof(sql));
            var count = raw.sqlite3_bind_parameter_count(_statement);
            if (count != parameters.Length) throw new ArgumentException($"The statement has {count} parameters, {parameters.Length} named: {sql}", nameof(parameters));
            for (var i = 0; i < count; i++)
            {
                var name = raw.sqlite3_bind_parameter_name(_statement, i + 1).utf8_to_string();
                if (name != parameters[i]) throw new ArgumentException($"Parameter {i + 1} is {name}, not {parameters[i]}: {sql}", nameof(parameters));
            }
        }
        catch
        {
            _statement.Dispose();
            throw;
        }
    }

    public void Bind(int index, long value) => Check(raw.sqlite3_bind_int64(_statement, index, value));

    public void BindNull(int index) => Check(raw.sqlite3_bind_null(_statement, index));

    public void Bind(int index, long? value)
    {
        if (value is { } v) Bind(index, v);
        else BindNull(index);
    }

    public void Bind(int index, string? value)
    {
        if (value is null)
        {
            BindNull(index);
            return;
        }
        // An empty span would reach SQLite as a null pointer, which binds NULL instead of ''.
        if (value.Length == 0)
        {
            Check(raw.sqlite3_bind_text(_statement, index, value));
            return;
        }
        var max = Encoding.UTF8.GetMaxByteCount(value.Length);
        byte[]? rented = null;
        var buffer = max <= StackEncodeLimit ? stackalloc byte[StackEncodeLimit] : (rented = ArrayPool<byte>.Shared.Rent(max));
        try
        {
            var length = Encoding.UTF8.GetBytes(value, buffer);
            // SQLitePCLRaw binds spans with SQLITE_TRANSIENT: SQLite copies the bytes before this returns.
            Check(raw.sqlite3_bind_text(_statement, index, buffer[..length]));
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public void Bind(int index, ReadOnlySpan<byte> blob)
    {
        // As for text: an empty span would bind NULL, and an empty payload is a value (NOT NULL columns).
        Check(blob.IsEmpty ? raw.sqlite3_bind_zeroblob(_statement, index, 0) : raw.sqlite3_bind_blob(_statement, index, blob));
    }

    public void BindBlobOrNull(int index, byte[]? blob)
    {
        if (blob is null) BindNull(index);
        else Bind(index, blob);
    }

    /// <summary>Runs the statement to completion and returns the rows it changed.</summary>
    public int Execute()
    {
        var rc = raw.sqlite3_step(_statement);
        while (rc == raw.SQLITE_ROW) rc = raw.sqlite3_step(_statement);
        // reset keeps the bindings; every caller binds all parameters before each execution.
        raw.sqlite3_reset(_statement);
        if (rc != raw.SQLITE_DONE) SqliteException.ThrowExceptionForRC(rc, _db);
        return raw.sqlite3_changes(_db);
    }

    /// <summary>The first column of the first row as an integer (0 when there is no row or it is NULL).</summary>
    public long ExecuteScalarInt64()
    {
        var rc = raw.sqlite3_step(_statement);
        var value = rc == raw.SQLITE_ROW ? raw.sqlite3_column_int64(_statement, 0) : 0;
        raw.sqlite3_reset(_statement);
        if (rc != raw.SQLITE_ROW && rc != raw.SQLITE_DONE) SqliteException.ThrowExceptionForRC(rc, _db);
        return value;
    }

    public void Dispose() => _statement.Dispose();

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK) SqliteException.ThrowExceptionForRC(rc, _db);
    }
}
