using System.Diagnostics;

namespace Gatehouse.Bench;

/// <summary>
/// A subscribing client's accounting: per publisher a <see cref="SequenceTracker"/>, a latency histogram (send
/// timestamp in the payload to arrival), counts. Written by the connection's receive loop only.
/// </summary>
internal sealed class Subscriber : IPacketSink
{
    private const int MaxPublishers = 1 << 20;
    private readonly BenchStats _stats;
    private SequenceTracker?[] _byPublisher;
    private long _received;
    private long _lastReceiveTicks;

    public Subscriber(int index, int expectedPublishers, BenchStats stats)
    {
        Index = index;
        _stats = stats;
        _byPublisher = new SequenceTracker?[Math.Max(1, expectedPublishers)];
    }

    public int Index { get; }
    public BenchConnection? Connection { get; set; }
    public LatencyHistogram Latency { get; } = new();

    /// <summary>Messages received, duplicates included.</summary>
    public long Received => Volatile.Read(ref _received);

    /// <summary>Payloads without the bench marker (not from a bench publisher).</summary>
    public long Foreign { get; private set; }

    public long LastReceiveTicks => Volatile.Read(ref _lastReceiveTicks);

    /// <summary>Set when the connection ended unexpectedly.</summary>
    public bool Closed { get; private set; }

    public SequenceTracker? TrackerOf(int publisher) => publisher < _byPublisher.Length ? _byPublisher[publisher] : null;

    public IEnumerable<(int Publisher, SequenceTracker Tracker)> Trackers()
    {
        for (var i = 0; i < _byPublisher.Length; i++)
            if (_byPublisher[i] is { } t) yield return (i, t);
    }

    /// <summary>Unique messages received from <paramref name="publisher"/> (any thread).</summary>
    public long UniqueFrom(int publisher) => TrackerOf(publisher)?.Unique ?? 0;

    public void OnPublish(ReadOnlySpan<byte> payload)
    {
        var now = Stopwatch.GetTimestamp();
        Volatile.Write(ref _received, _received + 1);
        Volatile.Write(ref _lastReceiveTicks, now);
        Interlocked.Increment(ref _stats.Received);
        if (!Payload.TryRead(payload, out var publisher, out var sequence, out var timestamp) || publisher >= MaxPublishers)
        {
            Foreign++;
            return;
        }
        if (publisher >= _byPublisher.Length) Array.Resize(ref _byPublisher, Math.Max((int)publisher + 1, _byPublisher.Length * 2));
        var tracker = _byPublisher[publisher] ??= new SequenceTracker();
        tracker.Record(sequence);
        Latency.Record((long)((now - timestamp) * 1_000_000.0 / Stopwatch.Frequency));
    }

    public void OnAck(ushort packetId, bool failed)
    {
    }

    public void OnClosed(string reason)
    {
        Closed = true;
        _stats.Error($"subscriber {Index}: {reason}");
    }
}
