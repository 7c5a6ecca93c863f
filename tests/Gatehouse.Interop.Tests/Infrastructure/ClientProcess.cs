using System.Diagnostics;
using System.Text;

namespace Gatehouse.Interop.Tests.Infrastructure;

/// <summary>
/// A third-party client run as a child process. Its stdout and stderr are captured line by line so a test can
/// wait for a line (a condition, never a fixed sleep), wait for the exit, or kill it abruptly. Everything it
/// printed is available through <see cref="Transcript"/> for failure messages.
/// </summary>
public sealed class ClientProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _stdout = [];
    private readonly StringBuilder _transcript = new();
    private readonly Lock _gate = new();
    private readonly TaskCompletionSource _stdoutClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stderrClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _disposed;
    private event Action? LineArrived;

    private ClientProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }

    public int Id => _process.Id;

    public bool HasExited => _disposed || _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Lines the client wrote to stdout so far.</summary>
    public IReadOnlyList<string> StdoutLines
    {
        get { lock (_gate) return [.. _stdout]; }
    }

    /// <summary>Command line and interleaved stdout/stderr, for assertion messages.</summary>
    public string Transcript
    {
        get
        {
            lock (_gate)
            {
                var exit = _disposed ? "stopped" : _process.HasExited ? $"exit code {_process.ExitCode}" : "still running";
                return $"--- {Name} ({exit})\n{_transcript}--- end of {Name}\n";
            }
        }
    }

    public static ClientProcess Start(
        string name,
        string fileName,
        IEnumerable<string> arguments,
        string? workingDirectory = null,
        string? stdin = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var argument in arguments)
            info.ArgumentList.Add(argument);
        if (workingDirectory is not null)
            info.WorkingDirectory = workingDirectory;
        info.Environment["PYTHONUNBUFFERED"] = "1";
        if (environment is not null)
        {
            foreach (var (key, value) in environment)
                info.Environment[key] = value;
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var client = new ClientProcess(name, process);
        lock (client._gate)
            client._transcript.Append("$ ").Append(fileName).Append(' ').AppendJoin(' ', info.ArgumentList.Select(Quote)).Append('\n');
        process.OutputDataReceived += (_, e) => client.OnLine(e.Data, isStdout: true);
        process.ErrorDataReceived += (_, e) => client.OnLine(e.Data, isStdout: false);
        if (!process.Start())
            throw new InvalidOperationException($"could not start {fileName}");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (stdin is not null)
            process.StandardInput.Write(stdin);
        process.StandardInput.Close();
        return client;
    }

    private static string Quote(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsLetterOrDigit(c) || "-_./:=,@%+".Contains(c))
            ? argument
            : "'" + argument.Replace("'", "'\\''") + "'";

    private void OnLine(string? line, bool isStdout)
    {
        if (line is null)
        {
            (isStdout ? _stdoutClosed : _stderrClosed).TrySetResult();
            LineArrived?.Invoke();
            return;
        }

        lock (_gate)
        {
            if (isStdout)
                _stdout.Add(line);
            _transcript.Append(isStdout ? "  " : "! ").Append(line).Append('\n');
        }
        LineArrived?.Invoke();
    }

    /// <summary>Waits until a stdout line matches; fails with the transcript if the client exits or time runs out.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, string what)
    {
        var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check()
        {
            string? hit;
            lock (_gate)
                hit = _stdout.FirstOrDefault(match);
            if (hit is not null)
                found.TrySetResult(hit);
            else if (_stdoutClosed.Task.IsCompleted)
                found.TrySetException(new InteropException($"{Name} ended before printing {what}", this));
        }

        LineArrived += Check;
        try
        {
            Check();
            var winner = await Task.WhenAny(found.Task, Task.Delay(timeout));
            if (winner != found.Task)
                throw new InteropException($"{Name} did not print {what} within {timeout.TotalSeconds:0.#} s", this);
            return await found.Task;
        }
        finally
        {
            LineArrived -= Check;
        }
    }

    public Task<string> WaitForLineAsync(string contains, TimeSpan timeout) =>
        WaitForLineAsync(l => l.Contains(contains, StringComparison.Ordinal), timeout, $"a line containing \"{contains}\"");

    /// <summary>Waits for the process to exit (and its output to drain); kills it and fails on timeout.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            await Task.WhenAll(_stdoutClosed.Task, _stderrClosed.Task).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (OperationCanceledException)
        {
            Kill();
            throw new InteropException($"{Name} did not exit within {timeout.TotalSeconds:0.#} s", this);
        }
        return _process.ExitCode;
    }

    /// <summary>Waits for a successful exit (code 0); fails with the transcript otherwise.</summary>
    public async Task ExpectSuccessAsync(TimeSpan timeout)
    {
        var code = await WaitForExitAsync(timeout);
        if (code != 0)
            throw new InteropException($"{Name} exited with code {code}", this);
    }

    /// <summary>Ends the process abruptly (SIGKILL): no DISCONNECT reaches the broker.</summary>
    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    /// <summary>Asks the process to stop (SIGTERM), so a client can send its DISCONNECT.</summary>
    public void Terminate()
    {
        if (HasExited)
            return;
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", _process.Id.ToString()]) { UseShellExecute = false });
        kill?.WaitForExit();
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
            return;
        var exited = _process.HasExited;
        Kill();
        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
        }
        lock (_gate)
        {
            _transcript.Append(exited ? $"(exit code {_process.ExitCode})\n" : "(killed at the end of the test)\n");
            _disposed = true;
        }
        _process.Dispose();
    }
}

/// <summary>An interop failure whose message carries the transcripts of the clients involved.</summary>
public sealed class InteropException(string message, params ClientProcess[] clients)
    : Exception(message + "\n" + string.Concat(clients.Select(c => c.Transcript)));
