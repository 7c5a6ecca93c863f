using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Bench;

/// <summary>How one publisher paces itself.</summary>
internal sealed record PublishPlan
{
    /// <summary>Messages to send; <see cref="long.MaxValue"/> for "until the deadline".</summary>
    public long Count { get; init; } = long.MaxValue;
    /// <summary>Stopwatch ticks after which no message is sent.</summary>
    public long DeadlineTicks { get; init; } = long.MaxValue;
    /// <summary>Messages per second; 0 = as fast as flow control allows.</summary>
    public double Rate { get; init; }
    /// <summary>
    /// Paced runs: where in the period (0 to 1) this publisher's schedule starts. Publishers spread over the period send
    /// at evenly spaced instants, as independent devices do, instead of all at once on each timer tick.
    /// </summary>
    public double Phase { get; init; }
    /// <summary>QoS 1/2: most unacknowledged messages.</summary>
    public int Inflight { get; init; } = 16;
    /// <summary>QoS 0 end-to-end window: most messages sent but not yet received by every expected subscriber; 0 = open loop.</summary>
    public int Window { get; init; }
}

/// <summary>
/// A publishing client. The PUBLISH is encoded once with the codec (<see cref="PacketWriter"/>) as a template; the
/// loop copies it into a batch buffer many times, patching packet id, sequence and timestamp in place, and sends the
/// batch with one write, so nothing is allocated per message. QoS 1/2 packet ids map back to sequences for the
/// acknowledged set.
/// </summary>
internal sealed class Publisher : IPacketSink
{
    private const int BatchBytes = 64 * 1024;
    private readonly BenchStats _stats;
    private readonly QoS _qos;
    private readonly string _topicPattern;
    private readonly int _payloadSize;
    private readonly ProtocolVersion _version;
    private readonly long[]? _sequenceByPacketId;
    private readonly AsyncSignal _wake = new();
    private byte[] _template = [];
    private int _payloadOffset;
    private int _packetIdOffset;
    private long _sent;
    private long _ackedCount;
    private long _inflight;
    private long _wakeAtInflight;
    private int _window;
    private volatile bool _windowWaiting;

    public Publisher(int index, string topicPattern, QoS qos, int payloadSize, ProtocolVersion version, BenchStats stats)
    {
        Index = index;
        _topicPattern = topicPattern;
        _qos = qos;
        _payloadSize = Math.Max(payloadSize, Payload.MinSize);
        _version = version;
        _stats = stats;
        if (qos > QoS.AtMostOnce)
        {
            _sequenceByPacketId = new long[65536];
            Acked = new SequenceSet();
        }
        if (!topicPattern.Contains("{n}", StringComparison.Ordinal)) _template = Encode(Topics.Expand(topicPattern, index, 0));
    }

    public int Index { get; }
    public BenchConnection? Connection { get; set; }

    /// <summary>Sequences acknowledged by the broker (QoS 1/2).</summary>
    public SequenceSet? Acked { get; }

    public long Sent => Volatile.Read(ref _sent);
    public long AckedCount => Volatile.Read(ref _ackedCount);
    public long Inflight => Volatile.Read(ref _inflight);
    public long AckFailures { get; private set; }
    public bool Closed { get; private set; }

    /// <summary>The fewest of this publisher's messages any expected subscriber has received (end-to-end flow control).</summary>
    public Func<long>? ReceivedByAll { get; set; }

    private byte[] Encode(string topic)
    {
        var packet = new PublishPacket
        {
            Topic = topic,
            QoS = _qos,
            PacketId = (ushort)(_qos > QoS.AtMostOnce ? 1 : 0),
            Payload = Payload.Create(_payloadSize, (uint)Index),
        };
        var buffer = new ArrayBufferWriter<byte>();
        PacketWriter.Write(buffer, packet, _version);
        var bytes = buffer.WrittenSpan.ToArray();
        _payloadOffset = bytes.Length - _payloadSize;
        var headerLength = 1 + BenchConnection.ReadVariableByteInteger(bytes.AsSpan(1), out _);
        _packetIdOffset = headerLength + 2 + BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(headerLength));
        return bytes;
    }

    /// <summary>Wakes the loop if it waits (used when the run stops).</summary>
    public void Wake() => _wake.Set();

    /// <summary>
    /// Called by the run's <see cref="WindowTicker"/> about once a millisecond: wakes the loop when it waits on the
    /// end-to-end window and half of the window is free again (batches of sends rather than one message per wake).
    /// </summary>
    public void PollWindow()
    {
        if (!_windowWaiting || ReceivedByAll is not { } received) return;
        if (_window - (Sent - received()) < Math.Max(1, _window / 2)) return;
        _windowWaiting = false;
        _wake.Set();
    }

    public async Task RunAsync(PublishPlan plan, CancellationToken ct)
    {
        var connection = Connection ?? throw new InvalidOperationException("not connected");
        var batch = new byte[Math.Max(BatchBytes, _template.Length)];
        var start = Stopwatch.GetTimestamp() + (plan.Rate > 0 ? (long)(plan.Phase * Stopwatch.Frequency / plan.Rate) : 0);
        ushort nextPacketId = 0;
        _window = plan.Window;
        Volatile.Write(ref _wakeAtInflight, plan.Inflight / 2);
        try
        {
            while (!ct.IsCancellationRequested && _sent < plan.Count && !Closed)
            {
                var now = Stopwatch.GetTimestamp();
                if (now >= plan.DeadlineTicks) break;
                var dynamicTopic = _template.Length == 0;
                var allowed = dynamicTopic ? 1 : batch.Length / _template.Length;
                allowed = (int)Math.Min(allowed, plan.Count - _sent);
                if (plan.Rate > 0)
                {
                    var due = now < start ? 0 : (long)((now - start) * plan.Rate / Stopwatch.Frequency) + 1 - _sent;
                    if (due <= 0)
                    {
                        // Sleep until the next message is due (timers have about 1 ms resolution).
                        var next = start + (long)(_sent * Stopwatch.Frequency / plan.Rate);
                        var wait = Math.Max(1.0, (next - now) * 1000.0 / Stopwatch.Frequency);
                        await Task.Delay(TimeSpan.FromMilliseconds(wait), ct);
                        continue;
                    }
                    allowed = (int)Math.Min(allowed, due);
                }
                if (_qos > QoS.AtMostOnce)
                {
                    var free = plan.Inflight - Volatile.Read(ref _inflight);
                    if (free <= 0)
                    {
                        await _wake.WaitAsync();
                        continue;
                    }
                    allowed = (int)Math.Min(allowed, free);
                }
                else if (plan.Window > 0 && ReceivedByAll is { } received)
                {
                    var free = plan.Window - (_sent - received());
                    if (free <= 0)
                    {
                        _windowWaiting = true;
                        await _wake.WaitAsync();
                        continue;
                    }
                    allowed = (int)Math.Min(allowed, free);
                }

                var length = 0;
                for (var k = 0; k < allowed; k++)
                {
                    var sequence = _sent + k + 1;
                    if (dynamicTopic)
                    {
                        _template = Encode(Topics.Expand(_topicPattern, Index, sequence));
                        if (_template.Length > batch.Length) batch = new byte[_template.Length];
                    }
                    var message = batch.AsSpan(length, _template.Length);
                    _template.CopyTo(message);
                    if (_qos > QoS.AtMostOnce)
                    {
                        do nextPacketId++;
                        while (nextPacketId == 0 || Volatile.Read(ref _sequenceByPacketId![nextPacketId]) != 0);
                        Volatile.Write(ref _sequenceByPacketId[nextPacketId], sequence);
                        BinaryPrimitives.WriteUInt16BigEndian(message[_packetIdOffset..], nextPacketId);
                    }
                    Payload.Stamp(message[_payloadOffset..], sequence, Stopwatch.GetTimestamp());
                    length += _template.Length;
                    if (dynamicTopic) _template = [];
                }
                if (_qos > QoS.AtMostOnce) Interlocked.Add(ref _inflight, allowed);
                await connection.SendAsync(batch.AsMemory(0, length), ct);
                Volatile.Write(ref _sent, _sent + allowed);
                Interlocked.Add(ref _stats.Sent, allowed);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            OnClosed(ex.Message);
        }
    }

    public void OnPublish(ReadOnlySpan<byte> payload)
    {
    }

    public void OnAck(ushort packetId, bool failed)
    {
        if (_sequenceByPacketId is null) return;
        var sequence = Volatile.Read(ref _sequenceByPacketId[packetId]);
        if (sequence == 0) return; // not ours (or acknowledged twice)
        Volatile.Write(ref _sequenceByPacketId[packetId], 0);
        if (failed)
        {
            AckFailures++;
            _stats.Error($"publisher {Index}: message {sequence} refused by the broker");
        }
        else if (Acked!.Add(sequence))
        {
            Volatile.Write(ref _ackedCount, _ackedCount + 1);
            Interlocked.Increment(ref _stats.Acked);
        }
        // Wake the loop once half the in-flight window is free: fewer, larger batches.
        if (Interlocked.Decrement(ref _inflight) <= Volatile.Read(ref _wakeAtInflight)) _wake.Set();
    }

    public void OnClosed(string reason)
    {
        if (Closed) return;
        Closed = true;
        _stats.Error($"publisher {Index}: {reason}");
        _wake.Set();
    }
}

/// <summary>Topic patterns: <c>{i}</c> is the client index, <c>{n}</c> the message sequence.</summary>
public static class Topics
{
    public static string Expand(string pattern, int client, long sequence)
    {
        if (!pattern.Contains('{', StringComparison.Ordinal)) return pattern;
        return pattern
            .Replace("{i}", client.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("{n}", sequence.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
    }

    /// <summary>The filter that matches every topic of a pattern: each placeholder level becomes <c>+</c>.</summary>
    public static string FilterFor(string pattern)
    {
        if (!pattern.Contains('{', StringComparison.Ordinal)) return pattern;
        var levels = pattern.Split('/');
        for (var i = 0; i < levels.Length; i++)
            if (levels[i].Contains("{i}", StringComparison.Ordinal) || levels[i].Contains("{n}", StringComparison.Ordinal)) levels[i] = "+";
        return string.Join('/', levels);
    }
}

/// <summary>One thread that polls the QoS 0 end-to-end windows of a run's publishers about every millisecond.</summary>
internal sealed class WindowTicker : IDisposable
{
    private readonly Publisher[] _publishers;
    private readonly Thread _thread;
    private volatile bool _stop;

    public WindowTicker(Publisher[] publishers)
    {
        _publishers = publishers;
        _thread = new Thread(Run) { IsBackground = true, Name = "bench window ticker" };
        _thread.Start();
    }

    private void Run()
    {
        while (!_stop)
        {
            foreach (var p in _publishers) p.PollWindow();
            Thread.Sleep(1);
        }
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join();
    }
}
