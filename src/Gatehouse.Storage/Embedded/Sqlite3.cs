using System.Runtime.InteropServices;

namespace Gatehouse.Storage.Embedded;

/// <summary>
/// The few SQLite C functions the writer calls for every stored row, imported from the library SQLitePCLRaw's bundle
/// ships and loads (<c>e_sqlite3</c>, found through the application's dependency manifest like SQLitePCLRaw's own
/// imports), taking the raw pointers a <see cref="NativeStatement"/> holds. Signatures as in sqlite3.h.
/// </summary>
internal static unsafe partial class Sqlite3
{
    private const string Library = "e_sqlite3";

    /// <summary>SQLITE_TRANSIENT: SQLite copies a bound value before the bind call returns.</summary>
    public static readonly nint Transient = -1;

    [LibraryImport(Library, EntryPoint = "sqlite3_bind_int64")]
    public static partial int BindInt64(nint statement, int index, long value);

    [LibraryImport(Library, EntryPoint = "sqlite3_bind_null")]
    public static partial int BindNull(nint statement, int index);

    [LibraryImport(Library, EntryPoint = "sqlite3_bind_text")]
    public static partial int BindText(nint statement, int index, byte* text, int length, nint destructor);

    [LibraryImport(Library, EntryPoint = "sqlite3_bind_blob")]
    public static partial int BindBlob(nint statement, int index, byte* blob, int length, nint destructor);

    [LibraryImport(Library, EntryPoint = "sqlite3_bind_zeroblob")]
    public static partial int BindZeroBlob(nint statement, int index, int length);

    [LibraryImport(Library, EntryPoint = "sqlite3_step")]
    public static partial int Step(nint statement);

    [LibraryImport(Library, EntryPoint = "sqlite3_reset")]
    public static partial int Reset(nint statement);

    [LibraryImport(Library, EntryPoint = "sqlite3_changes")]
    public static partial int Changes(nint database);

    [LibraryImport(Library, EntryPoint = "sqlite3_column_int64")]
    public static partial long ColumnInt64(nint statement, int column);

    [LibraryImport(Library, EntryPoint = "sqlite3_vfs_find")]
    public static partial CoalescingWalVfs.Vfs* VfsFind(byte* name);

    [LibraryImport(Library, EntryPoint = "sqlite3_vfs_register")]
    public static partial int VfsRegister(CoalescingWalVfs.Vfs* vfs, int makeDefault);
}
