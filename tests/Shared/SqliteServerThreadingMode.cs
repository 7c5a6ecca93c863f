using System.Runtime.CompilerServices;
using Gatehouse.Storage.Embedded;

namespace Gatehouse.Testing.Shared;

/// <summary>
/// Linked into every test assembly that opens SQLite in its own process: the stores under test then run in the threading
/// mode the server uses (multi-thread, set first thing in its Program), not SQLite's serialized default, so a connection
/// used by two threads at once would show here too.
/// </summary>
internal static class SqliteServerThreadingMode
{
#pragma warning disable CA2255 // A module initializer is the one hook that runs before any test opens a database.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void UseIt()
    {
        if (!SqliteThreadingMode.UseMultiThread())
            throw new InvalidOperationException("SQLite was in use before this test assembly loaded; it would run serialized, unlike the server.");
    }
}
