using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace Gatehouse.Bench;

/// <summary>What the live display shows; read from counters other threads write.</summary>
public sealed record ProgressSnapshot(string Phase, long Connected, long Sent, long Acked, long Received, long Errors);

/// <summary>Shows progress until <paramref name="stop"/> fires.</summary>
public interface IBenchProgress
{
    Task RunAsync(Func<ProgressSnapshot> snapshot, CancellationToken stop);
}

/// <summary>One line per second: for logs, pipes and --json (where it writes to stderr).</summary>
public sealed class PlainProgress(TextWriter output) : IBenchProgress
{
    public async Task RunAsync(Func<ProgressSnapshot> snapshot, CancellationToken stop)
    {
        var clock = Stopwatch.StartNew();
        var last = snapshot();
        var lastTime = 0.0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(1000, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            var now = snapshot();
            var t = clock.Elapsed.TotalSeconds;
            var dt = Math.Max(t - lastTime, 1e-6);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[{t,5:F0}s] {now.Phase,-10} connected {now.Connected:N0}  sent {now.Sent:N0} ({(now.Sent - last.Sent) / dt:N0}/s)  " +
                $"acked {now.Acked:N0}  received {now.Received:N0} ({(now.Received - last.Received) / dt:N0}/s)  errors {now.Errors:N0}"));
            last = now;
            lastTime = t;
        }
    }
}

/// <summary>A live table (Spectre.Console) for a terminal, refreshed four times a second.</summary>
public sealed class LiveProgress : IBenchProgress
{
    public async Task RunAsync(Func<ProgressSnapshot> snapshot, CancellationToken stop)
    {
        var table = new Table().Border(TableBorder.Rounded).AddColumns("phase", "elapsed", "connected", "sent", "sent/s", "acked", "received", "received/s", "errors");
        table.AddRow(Enumerable.Repeat("", 9).Select(s => new Markup(s)).ToArray());
        var clock = Stopwatch.StartNew();
        var last = snapshot();
        var lastTime = 0.0;
        await AnsiConsole.Live(table).AutoClear(false).StartAsync(async context =>
        {
            while (true)
            {
                var stopping = stop.IsCancellationRequested;
                var now = snapshot();
                var t = clock.Elapsed.TotalSeconds;
                var dt = Math.Max(t - lastTime, 1e-6);
                var c = CultureInfo.InvariantCulture;
                string[] cells =
                [
                    now.Phase, t.ToString("F1", c) + " s", now.Connected.ToString("N0", c), now.Sent.ToString("N0", c),
                    ((now.Sent - last.Sent) / dt).ToString("N0", c), now.Acked.ToString("N0", c), now.Received.ToString("N0", c),
                    ((now.Received - last.Received) / dt).ToString("N0", c), now.Errors.ToString("N0", c),
                ];
                for (var i = 0; i < cells.Length; i++) table.UpdateCell(0, i, Markup.Escape(cells[i]));
                context.Refresh();
                if (stopping) return;
                if (t - lastTime >= 1)
                {
                    last = now;
                    lastTime = t;
                }
                try
                {
                    await Task.Delay(250, stop);
                }
                catch (OperationCanceledException)
                {
                    // One last refresh with the final numbers.
                }
            }
        });
    }
}
