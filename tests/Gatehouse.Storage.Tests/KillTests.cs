using System.Diagnostics;
using System.Text.RegularExpressions;
using Gatehouse.Storage.Embedded;
using Xunit.Abstractions;

namespace Gatehouse.Storage.Tests;

/// <summary>
/// SIGKILL a process that is writing to the store at a random moment, reopen, and check that every submission it had
/// seen complete is there. Several kills on the same files, each recovery building on the last.
/// </summary>
public sealed partial class KillTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task Everything_acknowledged_before_SIGKILL_is_there_after_reopening()
    {
        var random = new Random();
        var budget = Stopwatch.StartNew();
        var acknowledged = new HashSet<long>();
        var removed = new HashSet<long>();
        var iterations = 0;
        while (iterations < 6 && (iterations < 3 || budget.Elapsed < TimeSpan.FromSeconds(12)))
        {
            iterations++;
            var first = iterations * 10_000_000L;
            var (enqueued, removals) = await RunAndKill(first, killAfter: TimeSpan.FromMilliseconds(random.Next(50, 600)));
            Assert.NotEmpty(enqueued);
            acknowledged.UnionWith(enqueued);
            removed.UnionWith(removals);

            await using var store = SqliteBrokerStore.Open(new SqliteStoreOptions { DataDirectory = _directory.Path });
            var snapshot = await store.LoadAsync(CancellationToken.None);
            var session = Assert.Single(snapshot.Sessions);
            var present = session.Deliveries.Select(d => d.MessageId).ToHashSet();
            // Enqueued and acknowledged, and no removal submitted (odd numbers are never removed): must be there.
            var missing = acknowledged.Where(n => n % 2 == 1 && !present.Contains(n)).ToList();
            Assert.True(missing.Count == 0, $"iteration {iterations}: {missing.Count} acknowledged messages lost, e.g. {string.Join(", ", missing.Take(5))}");
            // Removal acknowledged: must be gone, with its body.
            var resurrected = removed.Where(present.Contains).ToList();
            Assert.True(resurrected.Count == 0, $"iteration {iterations}: {resurrected.Count} acknowledged removals undone");
            Assert.All(session.Deliveries, d => Assert.True(snapshot.Messages.ContainsKey(d.MessageId)));
            Assert.Equal(present.Count, snapshot.Messages.Count);
            output.WriteLine($"iteration {iterations}: {enqueued.Count} enqueues and {removals.Count} removals acknowledged; {present.Count} queued after recovery");
        }
    }

    private async Task<(List<long> Enqueued, List<long> Removed)> RunAndKill(long first, TimeSpan killAfter)
    {
        var helper = Path.Combine(AppContext.BaseDirectory, "Gatehouse.Storage.CrashHelper.dll");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { helper, _directory.Path, first.ToString(), "16" }) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var enqueued = new List<long>();
        var removed = new List<long>();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstEnqueued = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reading = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                // A line cut short by the kill has no trailing '!' and is ignored.
                var match = Line().Match(line);
                if (line == "ready!") ready.TrySetResult();
                else if (match.Success)
                {
                    var isEnqueue = match.Groups[1].Value == "E";
                    (isEnqueue ? enqueued : removed).Add(long.Parse(match.Groups[2].Value));
                    if (isEnqueue) firstEnqueued.TrySetResult();
                }
            }
        });
        var errors = process.StandardError.ReadToEndAsync();
        var started = await Task.WhenAny(ready.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(30)));
        Assert.True(ready.Task.IsCompleted, $"the helper did not start: {(process.HasExited ? await errors : "timeout")}");
        await Task.Delay(killAfter);
        // Not before the first enqueue was acknowledged: on a loaded machine the helper may need longer than 50 ms for
        // it, and an iteration with nothing acknowledged tests nothing (the caller asserts there was something).
        await Task.WhenAny(firstEnqueued.Task, process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(30)));
        process.Kill(); // SIGKILL
        await process.WaitForExitAsync();
        await reading;
        return (enqueued, removed);
    }

    [GeneratedRegex("^([ER]) ([0-9]+)!$")]
    private static partial Regex Line();
}
