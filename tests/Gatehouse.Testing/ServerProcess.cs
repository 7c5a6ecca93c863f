using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Gatehouse.Testing;

/// <summary>How to start a <see cref="ServerProcess"/>.</summary>
public sealed class ServerProcessOptions
{
    /// <summary>The address the listeners bind (<c>--bind</c>): loopback unless a test is about the wildcard addresses.</summary>
    public string Bind { get; init; } = "127.0.0.1";

    /// <summary>Extra command-line arguments after <c>serve</c> and the port/storage arguments, e.g. <c>--max-keep-alive 2</c>.</summary>
    public IReadOnlyList<string> Arguments { get; init; } = [];

    /// <summary>Give the WebSocket listener a free port (otherwise <c>--ws-port 0</c>).</summary>
    public bool WebSocket { get; init; }

    /// <summary>Give the HTTP listener a free port (otherwise <c>--http-port 0</c>).</summary>
    public bool Http { get; init; }

    /// <summary>Give the TLS listener a free port; the caller adds <c>--tls-cert</c> to <see cref="Arguments"/>.</summary>
    public bool Tls { get; init; }

    /// <summary><c>memory</c> or <c>sqlite</c>.</summary>
    public string Storage { get; init; } = "memory";

    /// <summary>Data directory; a fresh temporary one (deleted on dispose) when null.</summary>
    public string? DataDirectory { get; init; }

    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    /// <summary>A lower open-file limit (ulimit -n) for the server process; null keeps the test runner's.</summary>
    public int? OpenFileLimit { get; init; }

    /// <summary>
    /// Start the server on one core (<c>taskset -c</c>, util-linux): the first core the test runner may use, so that
    /// every thread the server ever starts runs there.
    /// </summary>
    public bool OneCore { get; init; }
}

/// <summary>
/// The real <c>gatehouse</c> server as a child process on free loopback ports. Start-up waits (with a deadline) for
/// the <c>gatehouse: ready</c> line; stdout and stderr are captured for failure messages. <see cref="StopAsync"/>
/// shuts down gracefully (SIGTERM), <see cref="Kill"/> crashes it (SIGKILL), <see cref="RestartAsync"/> starts it
/// again on the same ports and data directory.
/// </summary>
public sealed partial class ServerProcess : IAsyncDisposable
{
    private const int MaxCapturedLines = 50_000;
    private const int SigTerm = 15;

    private readonly ServerProcessOptions _options;
    private readonly bool _ownsDataDirectory;
    private readonly List<string> _lines = [];
    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _listeners = new(StringComparer.OrdinalIgnoreCase);
    private Process? _process;
    private TaskCompletionSource _exited = NewSignal();
    private int _droppedLines;

    private ServerProcess(ServerProcessOptions options, string dataDirectory, bool ownsDataDirectory)
    {
        _options = options;
        DataDirectory = dataDirectory;
        _ownsDataDirectory = ownsDataDirectory;
    }

    public int MqttPort { get; private set; }

    /// <summary>0 when the WebSocket listener is disabled.</summary>
    public int WebSocketPort { get; private set; }

    /// <summary>0 when the HTTP listener is disabled.</summary>
    public int HttpPort { get; private set; }

    /// <summary>0 when the TLS listener is disabled.</summary>
    public int TlsPort { get; private set; }

    public string DataDirectory { get; }

    /// <summary>Listener name (as printed: mqtt, ws, http, tls, ...) to the port it reported on start-up.</summary>
    public IReadOnlyDictionary<string, int> Listeners
    {
        get { lock (_gate) return new Dictionary<string, int>(_listeners, StringComparer.OrdinalIgnoreCase); }
    }

    public int ProcessId => _process?.Id ?? 0;

    public bool HasExited => _process is null || _process.HasExited;

    public int? ExitCode => _process is { HasExited: true } p ? p.ExitCode : null;

    /// <summary>Number of captured output lines so far (stdout and stderr interleaved); a bookmark for <see cref="OutputSince"/>.</summary>
    public int OutputLineCount
    {
        get { lock (_gate) return _lines.Count + _droppedLines; }
    }

    /// <summary>Everything captured so far.</summary>
    public string Output => OutputSince(0);

    public IReadOnlyList<string> OutputLines
    {
        get { lock (_gate) return [.. _lines]; }
    }

    /// <summary>Captured lines from bookmark <paramref name="line"/> (see <see cref="OutputLineCount"/>) on.</summary>
    public string OutputSince(int line)
    {
        lock (_gate)
        {
            var start = Math.Max(0, line - _droppedLines);
            var sb = new StringBuilder();
            if (line < _droppedLines) sb.Append(CultureInfo.InvariantCulture, $"[... {_droppedLines - line} earlier lines dropped]\n");
            for (var i = start; i < _lines.Count; i++) sb.Append(_lines[i]).Append('\n');
            return sb.ToString();
        }
    }

    public static Task<ServerProcess> StartAsync(params string[] arguments)
        => StartAsync(new ServerProcessOptions { Arguments = arguments });

    /// <summary>Starts the server on free ports, retrying with new ports when one was taken in the meantime.</summary>
    public static async Task<ServerProcess> StartAsync(ServerProcessOptions options, CancellationToken cancellationToken = default)
    {
        var ownsDataDirectory = options.DataDirectory is null;
        var dataDirectory = options.DataDirectory
            ?? Path.Combine(Path.GetTempPath(), "gatehouse-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dataDirectory);
        var server = new ServerProcess(options, dataDirectory, ownsDataDirectory);
        const int attempts = 5;
        for (var attempt = 1; ; attempt++)
        {
            server.MqttPort = FreePort.Next();
            server.WebSocketPort = options.WebSocket ? FreePort.Next() : 0;
            server.HttpPort = options.Http ? FreePort.Next() : 0;
            server.TlsPort = options.Tls ? FreePort.Next() : 0;
            var result = await server.LaunchAsync(cancellationToken);
            if (result == LaunchResult.Ready) return server;
            if (result == LaunchResult.PortTaken && attempt < attempts) continue;
            var output = server.Output;
            await server.DisposeAsync();
            throw new InvalidOperationException(
                $"gatehouse did not become ready ({result}, exit code {server.ExitCode?.ToString(CultureInfo.InvariantCulture) ?? "none"}).\n" +
                $"Command: {server.CommandLine}\n--- server output ---\n{output}--- end of server output ---");
        }
    }

    /// <summary>Starts the server again (after <see cref="StopAsync"/> or <see cref="Kill"/>) on the same ports and data directory.</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        if (!HasExited) throw new InvalidOperationException("The server is still running.");
        // The old listener's port may linger briefly; retry on the same ports for a while.
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var result = await LaunchAsync(cancellationToken);
            if (result == LaunchResult.Ready) return;
            if (result != LaunchResult.PortTaken || deadline.Elapsed > TimeSpan.FromSeconds(20))
                throw new InvalidOperationException(
                    $"gatehouse did not become ready after restart ({result}).\nCommand: {CommandLine}\n--- server output ---\n{Output}--- end of server output ---");
            await Task.Delay(200, cancellationToken);
        }
    }

    /// <summary>Graceful shutdown: SIGTERM, then wait; SIGKILL if it has not exited within <paramref name="timeout"/>. Returns the exit code.</summary>
    public async Task<int?> StopAsync(TimeSpan? timeout = null)
    {
        var process = _process;
        if (process is null || process.HasExited) return ExitCode;
        if (OperatingSystem.IsWindows())
        {
            process.Kill(entireProcessTree: true);
        }
        else if (NativeMethods.Kill(process.Id, SigTerm) != 0)
        {
            process.Kill(entireProcessTree: true);
        }
        try
        {
            await _exited.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(15));
        }
        catch (TimeoutException)
        {
            AddLine("[test] server did not exit after SIGTERM; killing it");
            Kill();
        }
        await process.WaitForExitAsync();
        return process.ExitCode;
    }

    /// <summary>SIGKILL: the process dies at once, without flushing anything (crash tests).</summary>
    public void Kill()
    {
        var process = _process;
        if (process is null || process.HasExited) return;
        try
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    /// <summary>Completes when the process exits.</summary>
    public Task WaitForExitAsync(TimeSpan timeout) => _exited.Task.WaitAsync(timeout);

    /// <summary>Waits until a captured output line contains <paramref name="text"/> (from bookmark <paramref name="fromLine"/>).</summary>
    public Task<bool> WaitForOutputAsync(string text, TimeSpan timeout, int fromLine = 0)
        => Eventually.Until(() => OutputSince(fromLine).Contains(text, StringComparison.Ordinal), timeout);

    public string CommandLine { get; private set; } = "";

    public async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            if (!process.HasExited) await StopAsync(TimeSpan.FromSeconds(10));
            process.Dispose();
            _process = null;
        }
        if (_ownsDataDirectory)
        {
            try
            {
                Directory.Delete(DataDirectory, recursive: true);
            }
            catch (IOException)
            {
                // Best effort.
            }
            catch (UnauthorizedAccessException)
            {
                // Best effort.
            }
        }
    }

    private enum LaunchResult
    {
        Ready,
        PortTaken,
        Exited,
        TimedOut,
    }

    private async Task<LaunchResult> LaunchAsync(CancellationToken cancellationToken)
    {
        // Each launch has its own signals, and only its own process completes them: a killed predecessor's Exited event
        // may be raised after this launch began, and must not make it look as if the new process had exited.
        var ready = NewSignal();
        var exited = NewSignal();
        _exited = exited;
        lock (_gate) _listeners.Clear();
        var (fileName, prefix) = LocateServer();
        var args = new List<string>(prefix)
        {
            "serve",
            "--bind", _options.Bind,
            "--mqtt-port", MqttPort.ToString(CultureInfo.InvariantCulture),
            "--ws-port", WebSocketPort.ToString(CultureInfo.InvariantCulture),
            "--http-port", HttpPort.ToString(CultureInfo.InvariantCulture),
            "--storage", _options.Storage,
            "--data-dir", DataDirectory,
        };
        if (TlsPort != 0) args.AddRange(["--tls-port", TlsPort.ToString(CultureInfo.InvariantCulture)]);
        // With a certificate the host also opens WebSocket-over-TLS on 8084; parallel servers must not all take it.
        if (TlsPort != 0 && !_options.Arguments.Contains("--wss-port")) args.AddRange(["--wss-port", "0"]);
        args.AddRange(_options.Arguments);

        if (_options.OneCore)
        {
            if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("OneCore starts the server under taskset (Linux).");
            // taskset sets the affinity, then becomes the server (same process id); threads inherit it when created.
            args.InsertRange(0, ["-c", FirstAllowedCore().ToString(CultureInfo.InvariantCulture), fileName]);
            fileName = "taskset";
        }
        if (_options.OpenFileLimit is { } openFiles)
        {
            // The shell lowers the limit, then becomes the server (same process id).
            args.InsertRange(0, ["-c", $"ulimit -n {openFiles.ToString(CultureInfo.InvariantCulture)} && exec \"$0\" \"$@\"", fileName]);
            fileName = "/bin/sh";
        }
        var startInfo = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = DataDirectory,
        };
        foreach (var arg in args) startInfo.ArgumentList.Add(arg);
        startInfo.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        startInfo.Environment["DOTNET_NOLOGO"] = "1";
        if (_options.Environment is { } env)
        {
            foreach (var (key, value) in env) startInfo.Environment[key] = value;
        }
        CommandLine = fileName + " " + string.Join(' ', args.Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"\"{a}\"" : a));
        AddLine($"[test] starting: {CommandLine}");

        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => OnLine(e.Data, "out", ready);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data, "err", ready);
        process.Exited += (_, _) => exited.TrySetResult();
        _process?.Dispose();
        _process = process;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.StartTimeout);
        var first = await Task.WhenAny(ready.Task, exited.Task, Task.Delay(Timeout.Infinite, timeout.Token));
        if (first == ready.Task) return LaunchResult.Ready;
        if (first == exited.Task)
        {
            await process.WaitForExitAsync(CancellationToken.None);
            var output = Output;
            return output.Contains("in use", StringComparison.OrdinalIgnoreCase)
                || output.Contains("EADDRINUSE", StringComparison.OrdinalIgnoreCase)
                ? LaunchResult.PortTaken
                : LaunchResult.Exited;
        }
        AddLine("[test] start-up deadline passed; killing the server");
        Kill();
        return LaunchResult.TimedOut;
    }

    [GeneratedRegex(@"^gatehouse: (?<name>[\w-]+) listening on (?<address>\S+):(?<port>\d+)")]
    private static partial Regex ListeningLine();

    private void OnLine(string? line, string stream, TaskCompletionSource ready)
    {
        if (line is null) return;
        AddLine($"[{stream}] {line}");
        var trimmed = line.Trim();
        if (trimmed == "gatehouse: ready")
        {
            ready.TrySetResult();
            return;
        }
        var match = ListeningLine().Match(trimmed);
        if (match.Success)
        {
            lock (_gate) _listeners[match.Groups["name"].Value] = int.Parse(match.Groups["port"].Value, CultureInfo.InvariantCulture);
        }
    }

    private void AddLine(string line)
    {
        lock (_gate)
        {
            if (_lines.Count >= MaxCapturedLines)
            {
                _lines.RemoveRange(0, MaxCapturedLines / 10);
                _droppedLines += MaxCapturedLines / 10;
            }
            _lines.Add($"{DateTime.Now:HH:mm:ss.fff} {line}");
        }
    }

    /// <summary>
    /// Finds the server: <c>GATEHOUSE_SERVER_DLL</c> if set, else <c>gatehouse.dll</c> beside the test assembly (test
    /// projects reference src/Gatehouse so it is built there), else the host project's own bin directory.
    /// </summary>
    private static (string FileName, string[] Prefix) LocateServer()
    {
        var dotnet = System.Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (string.IsNullOrEmpty(dotnet) || !File.Exists(dotnet)) dotnet = "dotnet";

        var configured = System.Environment.GetEnvironmentVariable("GATEHOUSE_SERVER_DLL");
        if (!string.IsNullOrEmpty(configured)) return (dotnet, [configured]);

        var beside = Path.Combine(AppContext.BaseDirectory, "gatehouse.dll");
        if (File.Exists(beside) && File.Exists(Path.Combine(AppContext.BaseDirectory, "gatehouse.runtimeconfig.json")))
            return (dotnet, [beside]);

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var hostBin = Path.Combine(dir.FullName, "src", "Gatehouse", "bin");
            if (!Directory.Exists(hostBin)) continue;
            var newest = Directory.EnumerateFiles(hostBin, "gatehouse.dll", SearchOption.AllDirectories)
                .Where(f => File.Exists(Path.ChangeExtension(f, ".runtimeconfig.json")))
                .OrderByDescending(File.GetLastWriteTimeUtc)
                .FirstOrDefault();
            if (newest is not null) return (dotnet, [newest]);
        }
        throw new FileNotFoundException(
            $"gatehouse.dll not found beside the test assembly ({AppContext.BaseDirectory}) nor under src/Gatehouse/bin. " +
            "Reference src/Gatehouse/Gatehouse.csproj from the test project or set GATEHOUSE_SERVER_DLL.");
    }

    /// <summary>
    /// The lowest core in the test runner's own affinity mask: a machine's cpuset may leave out core 0, and a core
    /// outside it would make taskset fail.
    /// </summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static int FirstAllowedCore()
    {
        var mask = (long)Process.GetCurrentProcess().ProcessorAffinity;
        return mask == 0 ? 0 : System.Numerics.BitOperations.TrailingZeroCount(mask);
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static partial class NativeMethods
    {
        [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
        internal static partial int Kill(int pid, int signal);
    }
}
