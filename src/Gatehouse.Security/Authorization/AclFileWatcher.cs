namespace Gatehouse.Security.Authorization;

/// <summary>
/// Reloads an ACL file when it changes: a FileSystemWatcher on its directory for promptness, plus a poll of its
/// modification time and length every 2 s for file systems where change notifications do not arrive (network mounts,
/// some containers). A file that does not parse keeps the previous rules.
/// </summary>
public sealed class AclFileWatcher : IDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(2);
    private readonly string _path;
    private readonly Action<IReadOnlyList<AclRule>> _apply;
    private readonly Action<Exception> _error;
    private readonly FileSystemWatcher? _watcher;
    private readonly ITimer _poll;
    private readonly Lock _lock = new();
    private (DateTime Modified, long Length) _stamp;

    public AclFileWatcher(string path, Action<IReadOnlyList<AclRule>> apply, Action<Exception> error, TimeProvider time)
    {
        _path = Path.GetFullPath(path);
        _apply = apply;
        _error = error;
        _stamp = Stamp();
        try
        {
            _watcher = new FileSystemWatcher(Path.GetDirectoryName(_path)!, Path.GetFileName(_path))
            {
                NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.FileName | NotifyFilters.CreationTime,
            };
            _watcher.Changed += (_, _) => Check(force: true);
            _watcher.Created += (_, _) => Check(force: true);
            _watcher.Renamed += (_, _) => Check(force: true);
            _watcher.EnableRaisingEvents = true;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or PlatformNotSupportedException)
        {
            _watcher = null; // the poll alone will do
        }
        _poll = time.CreateTimer(_ => Check(force: false), null, PollInterval, PollInterval);
    }

    public void Dispose()
    {
        _watcher?.Dispose();
        _poll.Dispose();
    }

    private void Check(bool force)
    {
        lock (_lock)
        {
            var stamp = Stamp();
            if (!force && stamp == _stamp) return;
            _stamp = stamp;
            try
            {
                _apply(MosquittoAclFile.Load(_path));
            }
            catch (Exception ex) when (ex is IOException or FormatException or UnauthorizedAccessException)
            {
                _error(ex);
            }
        }
    }

    private (DateTime, long) Stamp()
    {
        var info = new FileInfo(_path);
        return info.Exists ? (info.LastWriteTimeUtc, info.Length) : (DateTime.MinValue, -1);
    }
}
