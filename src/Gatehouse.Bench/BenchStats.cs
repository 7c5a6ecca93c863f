using System.Collections.Concurrent;

namespace Gatehouse.Bench;

/// <summary>Run-wide counters read by the progress display, and the error log (first few messages kept).</summary>
internal sealed class BenchStats
{
    private const int KeptErrors = 10;
    private readonly ConcurrentQueue<string> _errors = new();

    public long Sent;
    public long Acked;
    public long Received;
    public long Connected;
    public long ConnectFailures;
    public long Errors;

    public void Error(string message)
    {
        Interlocked.Increment(ref Errors);
        if (_errors.Count < KeptErrors) _errors.Enqueue(message);
    }

    public IReadOnlyList<string> FirstErrors => [.. _errors];
}
