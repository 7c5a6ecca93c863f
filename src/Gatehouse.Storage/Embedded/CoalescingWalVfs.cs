using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Gatehouse.Storage.Embedded;

/// <summary>
/// A SQLite VFS (<c>gatehouse-wal</c>) that is the platform's default VFS with one change: the write-ahead log's
/// writes are gathered in memory and reach the file as one <c>pwrite</c> when SQLite syncs the log (or reads, sizes,
/// truncates or closes it, or a write does not continue the gathered run). SQLite writes each log frame as two
/// writes, a 24-byte header and the page, so a commit of ten pages was twenty system calls and twenty block-layer
/// submissions before its fsync; it is now one. On a virtual machine every system call and every submission to the
/// virtual disk is costly: a commit of four frames measured 197 µs as SQLite writes it and 150 µs as one write
/// (write + fdatasync, median).
/// <para>
/// Durability is unchanged because the broker's connection runs <c>synchronous = FULL</c>: SQLite syncs the log at
/// every commit, before it publishes the new frames in the log's shared index, so every committed frame is in the
/// file before any reader can look for it, and gathered frames that a crash loses belonged to a transaction that had
/// not committed. With <c>synchronous = NORMAL</c> committed frames could wait in memory, so only the store's own
/// writer connection (opened with <see cref="UriFor"/>) uses this VFS; every other connection keeps the default.
/// </para>
/// </summary>
internal static unsafe class CoalescingWalVfs
{
    public const string Name = "gatehouse-wal";

    // One log write gathers at most this much; a larger transaction reaches the file in runs of this size. The unix
    // VFS masks every write's length to its low 17 bits (seekAndWriteFd), so a write must stay under 128 KiB.
    private const int BufferCapacity = 120 * 1024;

    private const int SqliteOk = 0;
    private const int SqliteIoErr = 10;
    private const int SqliteIoErrWrite = SqliteIoErr | (3 << 8);
    private const int SqliteNoMem = 7;
    private const int SqliteOpenWal = 0x00080000;

    private static readonly Lock Gate = new();
    private static Vfs* _real;
    private static Vfs* _vfs;
    // The real VFS gives its files one method table in practice; a wrapper table is built per real one it gives.
    private static readonly Dictionary<nint, nint> Wrappers = [];
    private static int _extraOffset;

    /// <summary>
    /// A <c>file:</c> URI that opens <paramref name="path"/> through this VFS (registering it on first use). SQLite
    /// decodes %HH in a URI's path, so the characters that would end or escape the path are encoded.
    /// </summary>
    public static string UriFor(string path)
    {
        EnsureRegistered();
        var escaped = path.Replace("%", "%25").Replace("?", "%3f").Replace("#", "%23");
        return $"file:{escaped}?vfs={Name}";
    }

    private static void EnsureRegistered()
    {
        lock (Gate)
        {
            if (_vfs != null) return;
            var real = Sqlite3.VfsFind(null);
            if (real == null) throw new InvalidOperationException("SQLite has no default VFS.");
            _extraOffset = (real->SizeOfFile + 7) & ~7;

            var vfs = (Vfs*)NativeMemory.AllocZeroed((nuint)sizeof(Vfs));
            *vfs = *real;
            vfs->Next = null;
            vfs->SizeOfFile = _extraOffset + sizeof(Extra);
            vfs->Name = (byte*)Marshal.StringToCoTaskMemUTF8(Name);
            vfs->Open = &Open;
            var rc = Sqlite3.VfsRegister(vfs, 0);
            if (rc != SqliteOk) throw new InvalidOperationException($"sqlite3_vfs_register failed ({rc}).");
            _real = real;
            _vfs = vfs;
        }
    }

    private static Extra* ExtraOf(SqliteFile* file) => (Extra*)((byte*)file + _extraOffset);

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Open(Vfs* vfs, byte* name, SqliteFile* file, int flags, int* outFlags)
    {
        var rc = _real->Open(_real, name, file, flags, outFlags);
        if (rc != SqliteOk || file->Methods == null || (flags & SqliteOpenWal) == 0) return rc;
        var extra = ExtraOf(file);
        *extra = default;
        extra->Real = file->Methods;
        var wrapper = WrapperFor(file->Methods);
        if (wrapper == null) return rc; // no memory for a table: this log is written as SQLite writes it
        file->Methods = wrapper;
        return rc;
    }

    private static IoMethods* WrapperFor(IoMethods* real)
    {
        lock (Gate)
        {
            if (Wrappers.TryGetValue((nint)real, out var existing)) return (IoMethods*)existing;
            var wrapper = (IoMethods*)NativeMemory.AllocZeroed((nuint)sizeof(IoMethods));
            *wrapper = *real;
            wrapper->Close = &Close;
            wrapper->Read = &Read;
            wrapper->Write = &Write;
            wrapper->Truncate = &Truncate;
            wrapper->Sync = &Sync;
            wrapper->FileSize = &FileSize;
            Wrappers[(nint)real] = (nint)wrapper;
            return wrapper;
        }
    }

    /// <summary>Writes what is gathered, as one write; the run is dropped either way (an error fails SQLite's call).</summary>
    private static int Flush(SqliteFile* file, Extra* extra)
    {
        if (extra->Length == 0) return SqliteOk;
        var length = extra->Length;
        extra->Length = 0;
        return extra->Real->Write(file, extra->Buffer, length, extra->Start);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Write(SqliteFile* file, void* data, int amount, long offset)
    {
        var extra = ExtraOf(file);
        if (extra->Length > 0 && (offset != extra->Start + extra->Length || extra->Length + amount > BufferCapacity))
        {
            var rc = Flush(file, extra);
            if (rc != SqliteOk) return rc;
        }
        if (amount > BufferCapacity) return extra->Real->Write(file, data, amount, offset);
        if (extra->Buffer == null)
        {
            extra->Buffer = (byte*)NativeMemory.Alloc(BufferCapacity);
            if (extra->Buffer == null) return SqliteNoMem;
        }
        if (extra->Length == 0) extra->Start = offset;
        Buffer.MemoryCopy(data, extra->Buffer + extra->Length, BufferCapacity - extra->Length, amount);
        extra->Length += amount;
        return SqliteOk;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Sync(SqliteFile* file, int flags)
    {
        var extra = ExtraOf(file);
        var rc = Flush(file, extra);
        return rc != SqliteOk ? rc : extra->Real->Sync(file, flags);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Read(SqliteFile* file, void* data, int amount, long offset)
    {
        var extra = ExtraOf(file);
        var rc = Flush(file, extra);
        return rc != SqliteOk ? rc : extra->Real->Read(file, data, amount, offset);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Truncate(SqliteFile* file, long size)
    {
        var extra = ExtraOf(file);
        var rc = Flush(file, extra);
        return rc != SqliteOk ? rc : extra->Real->Truncate(file, size);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int FileSize(SqliteFile* file, long* size)
    {
        var extra = ExtraOf(file);
        var rc = Flush(file, extra);
        return rc != SqliteOk ? rc : extra->Real->FileSize(file, size);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static int Close(SqliteFile* file)
    {
        var extra = ExtraOf(file);
        var flushed = Flush(file, extra);
        if (extra->Buffer != null)
        {
            NativeMemory.Free(extra->Buffer);
            extra->Buffer = null;
        }
        var closed = extra->Real->Close(file);
        return flushed != SqliteOk ? SqliteIoErrWrite : closed;
    }

    // sqlite3.h's structures, as far as this VFS reads or replaces their members.

    [StructLayout(LayoutKind.Sequential)]
    internal struct Vfs
    {
        public int Version;
        public int SizeOfFile;
        public int MaxPathname;
        public Vfs* Next;
        public byte* Name;
        public void* AppData;
        public delegate* unmanaged[Cdecl]<Vfs*, byte*, SqliteFile*, int, int*, int> Open;
        // xDelete .. xNextSystemCall: copied from the default VFS unchanged.
        public fixed long Rest[15];
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct SqliteFile
    {
        public IoMethods* Methods;
    }

    [StructLayout(LayoutKind.Sequential)]
    internal struct IoMethods
    {
        public int Version;
        public delegate* unmanaged[Cdecl]<SqliteFile*, int> Close;
        public delegate* unmanaged[Cdecl]<SqliteFile*, void*, int, long, int> Read;
        public delegate* unmanaged[Cdecl]<SqliteFile*, void*, int, long, int> Write;
        public delegate* unmanaged[Cdecl]<SqliteFile*, long, int> Truncate;
        public delegate* unmanaged[Cdecl]<SqliteFile*, int, int> Sync;
        public delegate* unmanaged[Cdecl]<SqliteFile*, long*, int> FileSize;
        // xLock .. xUnfetch: copied from the real table unchanged.
        public fixed long Rest[12];
    }

    /// <summary>What this VFS keeps for a log file, after the default VFS's own file structure.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Extra
    {
        public IoMethods* Real;
        public byte* Buffer;
        public long Start;
        public int Length;
    }
}
