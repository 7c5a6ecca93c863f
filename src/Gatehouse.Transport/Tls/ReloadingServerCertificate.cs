using Microsoft.Extensions.Logging;

namespace Gatehouse.Transport.Tls;

/// <summary>
/// The server certificate of the TLS listeners, reloaded without restart when its files (--tls-cert, --tls-key)
/// change: a FileSystemWatcher on their directories plus a poll of their size and modification time (every
/// <c>pollInterval</c>; watchers miss events on some file systems and with some editors), debounced so a certificate
/// and key written one after the other are read together. Each new TLS handshake uses <see cref="Current"/>; existing
/// connections keep the certificate they were established with. A file that does not load (half written, key not
/// matching, expired password...) keeps the previous certificate and logs an error; the next change tries again.
/// </summary>
public sealed class ReloadingServerCertificate : IDisposable
{
    private readonly string _certificatePath;
    private readonly string? _keyPath;
    private readonly string? _password;
    private readonly ILogger _log;
    private readonly TimeSpan _debounce;
    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly ITimer _poll;
    private readonly ITimer _debounceTimer;
    private readonly Lock _lock = new();
    private volatile ServerCertificate _current;
    private string _stamp;
    private long _reloads;

    public ReloadingServerCertificate(ServerCertificate initial, string certificatePath, string? keyPath, string? password,
        ILogger log, TimeSpan? pollInterval = null, TimeSpan? debounce = null, TimeProvider? time = null)
    {
        time ??= TimeProvider.System;
        _current = initial;
        _certificatePath = Path.GetFullPath(certificatePath);
        _keyPath = keyPath is null ? null : Path.GetFullPath(keyPath);
        _password = password;
        _log = log;
        _debounce = debounce ?? TimeSpan.FromMilliseconds(500);
        _stamp = Stamp();
        _debounceTimer = time.CreateTimer(_ => Reload(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        foreach (var directory in Files().Select(Path.GetDirectoryName).Distinct(StringComparer.Ordinal))
        {
            try
            {
                var watcher = new FileSystemWatcher(directory!)
                {
                    NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
                };
                watcher.Changed += OnFileEvent;
                watcher.Created += OnFileEvent;
                watcher.Renamed += OnFileEvent;
                watcher.Deleted += OnFileEvent;
                watcher.EnableRaisingEvents = true;
                _watchers.Add(watcher);
            }
            catch (Exception ex) when (ex is IOException or ArgumentException or PlatformNotSupportedException or UnauthorizedAccessException)
            {
                _log.LogWarning("Cannot watch {Directory} for certificate changes ({Message}); polling only", directory, ex.Message);
            }
        }
        var interval = pollInterval ?? TimeSpan.FromSeconds(2);
        _poll = time.CreateTimer(_ =>
        {
            if (Stamp() != Volatile.Read(ref _stamp)) Schedule();
        }, null, interval, interval);
    }

    /// <summary>The certificate for the next handshake.</summary>
    public ServerCertificate Current => _current;

    /// <summary>Successful reloads since start-up.</summary>
    public long Reloads => Interlocked.Read(ref _reloads);

    private IEnumerable<string> Files() => _keyPath is null ? [_certificatePath] : [_certificatePath, _keyPath];

    private void OnFileEvent(object sender, FileSystemEventArgs e)
    {
        var path = Path.GetFullPath(e.FullPath);
        var renamedFrom = e is RenamedEventArgs renamed ? Path.GetFullPath(renamed.OldFullPath) : null;
        if (Files().Any(f => f == path || f == renamedFrom)) Schedule();
    }

    private void Schedule() => _debounceTimer.Change(_debounce, Timeout.InfiniteTimeSpan);

    private void Reload()
    {
        lock (_lock)
        {
            var stamp = Stamp();
            try
            {
                var next = ServerCertificate.Load(_certificatePath, _keyPath, _password);
                Volatile.Write(ref _stamp, stamp);
                if (next.Certificate.Thumbprint == _current.Certificate.Thumbprint) return;
                _current = next;
                Interlocked.Increment(ref _reloads);
                _log.LogInformation("Server certificate reloaded: {Subject}, thumbprint {Thumbprint}, valid until {NotAfter:O}",
                    next.Certificate.Subject, next.Certificate.Thumbprint, next.Certificate.NotAfter.ToUniversalTime());
            }
            catch (CertificateLoadException ex)
            {
                // Remember the stamp: the poll retries only after the files change again.
                Volatile.Write(ref _stamp, stamp);
                _log.LogError("Server certificate not reloaded, keeping {Thumbprint}: {Message}", _current.Certificate.Thumbprint, ex.Message);
            }
        }
    }

    private string Stamp() => string.Join('|', Files().Select(path =>
    {
        var info = new FileInfo(path);
        return info.Exists ? $"{info.Length}:{info.LastWriteTimeUtc.Ticks}" : "missing";
    }));

    public void Dispose()
    {
        foreach (var watcher in _watchers) watcher.Dispose();
        _poll.Dispose();
        _debounceTimer.Dispose();
    }
}
