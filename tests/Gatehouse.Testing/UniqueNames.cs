namespace Gatehouse.Testing;

/// <summary>Client ids and topics unique across a test run, so tests can share one server.</summary>
public static class UniqueNames
{
    private static int _counter;
    private static readonly string RunId = Guid.NewGuid().ToString("N")[..6];

    public static string ClientId(string prefix = "c") => $"{prefix}-{RunId}-{Interlocked.Increment(ref _counter)}";

    /// <summary>A topic root like "t/ab12cd-17"; append levels to it.</summary>
    public static string Topic(string prefix = "t") => $"{prefix}/{RunId}-{Interlocked.Increment(ref _counter)}";
}
