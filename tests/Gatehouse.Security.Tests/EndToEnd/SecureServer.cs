using System.Diagnostics;
using Gatehouse.Testing;

namespace Gatehouse.Security.Tests.EndToEnd;

/// <summary>The real server plus the <c>gatehouse</c> CLI against its data directory.</summary>
internal static class SecureServer
{
    /// <summary>Low PBKDF2 cost so tests stay fast; the default (600,000) is for production.</summary>
    public const string Iterations = "10000";

    public static Task<ServerProcess> StartAsync(string dataDirectory, params string[] arguments) =>
        ServerProcess.StartAsync(new ServerProcessOptions { DataDirectory = dataDirectory, Arguments = arguments });

    public static string NewDataDirectory()
    {
        var path = Path.Combine(Path.GetTempPath(), "gatehouse-security-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Runs <c>gatehouse ARGS --data-dir DIR</c> to its end; returns (exit code, stdout + stderr).</summary>
    public static async Task<(int ExitCode, string Output)> CliAsync(string dataDirectory, params string[] args)
    {
        var startInfo = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        startInfo.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "gatehouse.dll"));
        foreach (var arg in args) startInfo.ArgumentList.Add(arg);
        startInfo.ArgumentList.Add("--data-dir");
        startInfo.ArgumentList.Add(dataDirectory);
        startInfo.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(startInfo)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    public static async Task AddIdentityAsync(string dataDirectory, string name, string password, params string[] more)
    {
        var (exit, output) = await CliAsync(dataDirectory, ["identities", "add", name, "--password", password, "--iterations", Iterations, .. more]);
        Assert.True(exit == 0, output);
    }

    /// <summary>Runs an external client (mosquitto_pub, ...) to its end.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string fileName, params string[] args)
    {
        var startInfo = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args) startInfo.ArgumentList.Add(arg);
        using var process = Process.Start(startInfo)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    public static bool HasMosquittoClients =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(dir => File.Exists(Path.Combine(dir, "mosquitto_pub")));
}
