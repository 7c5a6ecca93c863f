using System.Reflection;
using System.Text.Json;
using Xunit.Abstractions;

namespace Gatehouse.Interop.Tests.Infrastructure;

/// <summary>
/// Base for interop tests: starts clients against the class's server, gives each test its own topic prefix, and
/// writes every client's transcript (and the server's output on failure) to the test output.
/// </summary>
public abstract class InteropTest(InteropServer server, ITestOutputHelper output) : IAsyncLifetime
{
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private readonly List<ClientProcess> _clients = [];

    protected InteropServer Server { get; } = server;

    protected ITestOutputHelper Output { get; } = output;

    /// <summary>A topic prefix no other test uses, so tests can share one server.</summary>
    protected string Prefix { get; } = "interop/" + Guid.NewGuid().ToString("N")[..10];

    public static string ClientsDirectory { get; } = typeof(InteropTest).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "ClientsDirectory").Value!;

    protected ClientProcess Start(string name, string fileName, IEnumerable<string> arguments, string? stdin = null)
    {
        Server.AssertAlive();
        var client = ClientProcess.Start(name, fileName, arguments, ClientsDirectory, stdin);
        lock (_clients)
            _clients.Add(client);
        return client;
    }

    /// <summary>
    /// Runs a scripted scenario (Python or Node) that prints JSON lines, and asserts that it passed and that it
    /// ran every check the test expects, so a scenario that silently skips a check cannot pass.
    /// </summary>
    protected async Task<IReadOnlyList<JsonElement>> RunScenarioAsync(ClientProcess client, params string[] expectedChecks)
    {
        var code = await client.WaitForExitAsync(TimeSpan.FromSeconds(60));
        var lines = client.StdoutLines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        var failed = lines.Where(l => l.TryGetProperty("check", out _) && !l.GetProperty("ok").GetBoolean())
            .Select(l => l.GetRawText()).ToList();
        var ran = lines.Where(l => l.TryGetProperty("check", out _)).Select(l => l.GetProperty("check").GetString()!).ToHashSet();
        var missing = expectedChecks.Where(c => !ran.Contains(c)).ToList();
        var result = lines.LastOrDefault(l => l.TryGetProperty("result", out _));

        if (failed.Count > 0)
            throw new InteropException($"{client.Name}: failed checks:\n  {string.Join("\n  ", failed)}", client);
        if (code != 0 || result.ValueKind == JsonValueKind.Undefined || result.GetProperty("result").GetString() != "ok")
            throw new InteropException($"{client.Name}: scenario did not pass (exit code {code})", client);
        if (missing.Count > 0)
            throw new InteropException($"{client.Name}: checks never ran: {string.Join(", ", missing)}", client);
        Server.AssertAlive();
        return lines;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        ClientProcess[] clients;
        lock (_clients)
            clients = [.. _clients];
        foreach (var client in clients)
        {
            await client.DisposeAsync();
            Output.WriteLine(client.Transcript);
        }
        Output.WriteLine(Server.HasExited ? Server.Transcript : "--- last lines of the server's output\n" + Server.Tail(30));
    }
}
