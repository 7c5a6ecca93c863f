using System.Buffers;
using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Gatehouse.Storage.Embedded;

/// <summary>
/// One prepared SQLite statement, its parameters bound by position. The writer runs several statements per stored
/// message; through <see cref="SqliteCommand"/> each execution looked every parameter up by name (a UTF-8 copy of the
/// name each time) and built a data reader, which cost more than SQLite's own work. SQLitePCLRaw prepares and finalizes
/// it; binding and stepping call the same native library directly (<see cref="Sqlite3"/>) on the statement's pointer,
/// held for the statement's life, rather than through the provider's interface with a SafeHandle reference taken and
/// dropped on every call (7.5 % of the broker's CPU while messages queued for an offline session). Errors surface as
/// <see cref="SqliteException"/> with SQLite's code, as they did through the command. Used only by the writer thread.
/// </summary>
internal sealed unsafe class NativeStatement : IDisposable
{
    // Strings up to this many UTF-8 bytes are encoded on the stack; longer ones (rare: topics) in a rented array.
    private const int StackEncodeLimit = 512;

    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _statement;
    // The native pointers, valid while this holds a reference on each handle (taken in the constructor, given back in
    // Dispose), so neither can be closed or finalized under a call.
    private readonly nint _dbPointer, _pointer;
    private bool _disposed;

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
        var dbReferenced = false;
        var statementReferenced = false;
        try
        {
            _db.DangerousAddRef(ref dbReferenced);
            _statement.DangerousAddRef(ref statementReferenced);
        }
        catch
        {
            if (dbReferenced) _db.DangerousRelease();
            _statement.Dispose();
            throw;
        }
        _dbPointer = _db.DangerousGetHandle();
        _pointer = _statement.DangerousGetHandle();
    }

    public void Bind(int index, long value) => Check(Sqlite3.BindInt64(_pointer, index, value));

    public void BindNull(int index) => Check(Sqlite3.BindNull(_pointer, index));

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
        var max = Encoding.UTF8.GetMaxByteCount(value.Length);
        byte[]? rented = null;
        var buffer = max <= StackEncodeLimit ? stackalloc byte[StackEncodeLimit] : (rented = ArrayPool<byte>.Shared.Rent(max));
        try
        {
            var length = Encoding.UTF8.GetBytes(value, buffer);
            // Never a null pointer (that binds NULL instead of ''): the buffer is there even for an empty string.
            // SQLITE_TRANSIENT: SQLite copies the bytes before this returns.
            fixed (byte* text = buffer) Check(Sqlite3.BindText(_pointer, index, text, length, Sqlite3.Transient));
        }
        finally
        {
            if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public void Bind(int index, ReadOnlySpan<byte> blob)
    {
        // An empty span's null pointer would bind NULL, and an empty payload is a value (NOT NULL columns).
        if (blob.IsEmpty)
        {
            Check(Sqlite3.BindZeroBlob(_pointer, index, 0));
            return;
        }
        fixed (byte* bytes = blob) Check(Sqlite3.BindBlob(_pointer, index, bytes, blob.Length, Sqlite3.Transient));
    }

    public void BindBlobOrNull(int index, byte[]? blob)
    {
        if (blob is null) BindNull(index);
        else Bind(index, blob);
    }

    /// <summary>Runs the statement to completion and returns the rows it changed.</summary>
    public int Execute()
    {
        var rc = Sqlite3.Step(_pointer);
        while (rc == raw.SQLITE_ROW) rc = Sqlite3.Step(_pointer);
        // reset keeps the bindings; every caller binds all parameters before each execution. It returns the step's
        // error again, already in rc.
        _ = Sqlite3.Reset(_pointer);
        if (rc != raw.SQLITE_DONE) SqliteException.ThrowExceptionForRC(rc, _db);
        return Sqlite3.Changes(_dbPointer);
    }

    /// <summary>The first column of the first row as an integer (0 when there is no row or it is NULL).</summary>
    public long ExecuteScalarInt64()
    {
        var rc = Sqlite3.Step(_pointer);
        var value = rc == raw.SQLITE_ROW ? Sqlite3.ColumnInt64(_pointer, 0) : 0;
        _ = Sqlite3.Reset(_pointer);
        if (rc != raw.SQLITE_ROW && rc != raw.SQLITE_DONE) SqliteException.ThrowExceptionForRC(rc, _db);
        return value;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _statement.DangerousRelease();
        _statement.Dispose();
        _db.DangerousRelease();
    }

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK) SqliteException.ThrowExceptionForRC(rc, _db);
    }
}
