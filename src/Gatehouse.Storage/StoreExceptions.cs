namespace Gatehouse.Storage;

/// <summary>
/// The store's files cannot be used as they are: an unknown format version, a file that is not a Gatehouse store, or
/// a corrupt database. Start-up stops; nothing is recreated or repaired on its own. The message is one line naming
/// the file and the problem.
/// </summary>
public sealed class StoreFormatException : Exception
{
    public StoreFormatException(string path, string problem, Exception? inner = null)
        : base($"Store {path}: {problem}", inner)
    {
        StorePath = path;
    }

    /// <summary>The file that failed the check.</summary>
    public string StorePath { get; }
}

/// <summary>
/// A change could not be made durable (disk full, read-only or failing storage, store closed). The submission's task
/// faults with it; the store keeps running and later submissions may succeed. The broker maps it to reason codes.
/// </summary>
public sealed class StoreUnavailableException : Exception
{
    public StoreUnavailableException(string message, Exception? inner = null) : base(message, inner) { }
}
