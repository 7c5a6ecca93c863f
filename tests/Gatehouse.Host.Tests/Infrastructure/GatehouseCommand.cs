using System.Diagnostics;
using System.Text;

namespace Gatehouse.Host.Tests.Infrastructure;

/// <summary>The outcome of running <c>gatehouse</c> to its exit.</summary>
public sealed record CommandResult(int ExitCode, string Stdout, string Stderr)
{
    public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Stdout}--- stderr ---\n{Stderr}";
}

/// <summary>
/// Runs the built <c>gatehouse</c> (beside this assembly: the project references src/Gatehouse) for commands that
/// end by themselves: --help, or serve with settings that must be refused. Servers that keep running use
/// <see cref="Gatehouse.Testing.ServerProcess"/>.
/// </summary>
public static class GatehouseCommand
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    public static Task<CommandResult> RunAsync(params string[] args) => RunAsync(args, environment: null);

    public static async Task<CommandResult> RunAsync(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment)
    {
        var workingDirectory = Path.Combine(Path.GetTempPath(), "gatehouse-host-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(workingDirectory);
        try
        {
            var startInfo = new ProcessStartInfo("dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
                WorkingDirectory = workingDirectory,
            };
            startInfo.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "gatehouse.dll"));
            foreach (var arg in args) startInfo.ArgumentList.Add(arg);
            foreach (var key in startInfo.Environment.Keys.Where(k => k.StartsWith("GATEHOUSE_", StringComparison.Ordinal)).ToList())
                startInfo.Environment.Remove(key);
            startInfo.Environment["DOTNET_NOLOGO"] = "1";
            if (environment is not null)
            {
                foreach (var (key, value) in environment) startInfo.Environment[key] = value;
            }

            using var process = Process.Start(startInfo)!;
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var cts = new CancellationTokenSource(Timeout);
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"gatehouse {string.Join(' ', args)} did not exit within {Timeout.TotalSeconds} s");
            }
            return new CommandResult(process.ExitCode, await stdout, await stderr);
        }
        finally
        {
            try { Directory.Delete(workingDirectory, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>Asserts the documented failure shape: non-zero exit, exactly one stderr line "gatehouse: error: ...", no stack trace.</summary>
    public static void AssertOneLineError(CommandResult result, string expectedFragment)
    {
        Assert.True(result.ExitCode != 0, $"expected a non-zero exit\n{result}");
        var lines = result.StderrLines;
        Assert.True(lines.Length == 1, $"expected exactly one stderr line\n{result}");
        Assert.StartsWith("gatehouse: error: ", lines[0], StringComparison.Ordinal);
        Assert.Contains(expectedFragment, lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("ready", result.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal); // stack frames
    }
}
