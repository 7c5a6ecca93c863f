using System.Diagnostics;
using System.Globalization;
using System.Net;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Bench;

/// <summary>
/// Runs one scenario: connects the clients, drives the publishers, waits for in-flight messages to arrive, and
/// accounts for every message. Everything is bounded: a run without a duration stops after <see cref="HardLimit"/>.
/// </summary>
public sealed class BenchRunner
{
    /// <summary>No run lasts longer than this, whatever the options say.</summary>
    public static readonly TimeSpan HardLimit = TimeSpan.FromMinutes(10);

    private const int SubscriberBuffer = 64 * 1024;
    private const int PublisherBuffer = 4 * 1024;
    private const int IdleBuffer = 256;
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan DrainIdle = TimeSpan.FromSeconds(2);

    private readonly BenchOptions _o;
    private readonly BenchStats _stats = new();
    private readonly string _runId = Guid.NewGuid().ToString("N")[..8];
    private BenchEndpoint _endpoint = null!;
    private volatile string _phase = "connect";

    private BenchRunner(BenchOptions options) => _o = options;

    public static async Task<BenchResult> RunAsync(BenchOptions options, IBenchProgress? progress, CancellationToken ct)
    {
        options.Validate();
        var runner = new BenchRunner(options.Resolve());
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(HardLimit);
        using var stopProgress = new CancellationTokenSource();
        var progressTask = progress?.RunAsync(runner.Snapshot, stopProgress.Token) ?? Task.CompletedTask;
        try
        {
            return await runner.RunAsync(limit.Token);
        }
        finally
        {
            await stopProgress.CancelAsync();
            await progressTask;
        }
    }

    /// <summary>At most how many connections a run opens at once (the pairs scenario opens two per client).</summary>
    public static int ConnectionsNeeded(BenchOptions options)
    {
        options.Validate();
        return 2 * options.Resolve().Clients!.Value + 1;
    }

    private ProgressSnapshot Snapshot() => new(_phase, Interlocked.Read(ref _stats.Connected), Interlocked.Read(ref _stats.Sent),
        Interlocked.Read(ref _stats.Acked), Interlocked.Read(ref _stats.Received), Interlocked.Read(ref _stats.Errors));

    private async Task<BenchResult> RunAsync(CancellationToken ct)
    {
        var addresses = IPAddress.TryParse(_o.Host, out var ip) ? [ip] : await Dns.GetHostAddressesAsync(_o.Host, ct);
        var address = addresses.FirstOrDefault(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork) ?? addresses.First();
        _endpoint = new BenchEndpoint(address, _o.Port, _o.Host, _o.Tls) { SourceAddresses = SourceAddresses(address, _o.SourceAddresses) };

        var n = _o.Clients!.Value;
        var topic = _o.Topic!;
        var result = _o.Scenario switch
        {
            Scenarios.Pub => await RunFlowAsync(n, 0, i => Topics.Expand(topic, i, 0), _ => "", (_, _) => false, ct),
            Scenarios.Sub => await RunFlowAsync(0, n, _ => "", _ => topic, (_, _) => false, ct),
            Scenarios.FanIn or Scenarios.FanInQoS1 =>
                await RunFlowAsync(n, 1, i => topic, _ => Topics.FilterFor(topic), (_, _) => true, ct),
            Scenarios.Pairs => await RunFlowAsync(n, n, i => topic, s => Topics.Expand(topic, s, 0), (s, p) => s == p, ct),
            Scenarios.FanOut => await RunFlowAsync(1, n, _ => topic, _ => Topics.FilterFor(topic), (_, _) => true, ct),
            Scenarios.Conn or Scenarios.IdleConns => await RunConnectionsAsync(n, ct),
            Scenarios.Backlog => await RunBacklogAsync(n, ct),
            _ => throw new BenchException($"unknown scenario '{_o.Scenario}'"),
        };
        if (Interlocked.Read(ref _stats.Connected) == 0 && Interlocked.Read(ref _stats.ConnectFailures) > 0)
            throw new BenchException($"no connection succeeded ({_stats.FirstErrors.FirstOrDefault()})");
        result.Scenario = _o.Scenario;
        result.Broker = $"{_o.Host}:{_o.Port.ToString(CultureInfo.InvariantCulture)}{(_o.Tls ? " (TLS)" : "")}";
        result.MqttVersion = _o.Version == ProtocolVersion.V500 ? "5.0" : "3.1.1";
        result.QoS = _o.QoS!.Value;
        result.PayloadBytes = Math.Max(_o.PayloadSize, Payload.MinSize);
        result.RatePerPublisher = _o.Rate;
        result.Connections = Interlocked.Read(ref _stats.Connected);
        result.ConnectFailures = Interlocked.Read(ref _stats.ConnectFailures);
        result.Errors = Interlocked.Read(ref _stats.Errors);
        result.ErrorSamples = _stats.FirstErrors;
        _phase = "done";
        return result;
    }

    // ---------------------------------------------------------------- connections

    private ConnectPacket Connect(string clientId, bool cleanStart, uint sessionExpiry) => new()
    {
        ProtocolName = "MQTT",
        ProtocolVersion = _o.Version,
        ClientId = clientId,
        CleanStart = cleanStart,
        KeepAliveSeconds = 0,
        Properties = _o.Version == ProtocolVersion.V500 && sessionExpiry > 0 ? new MqttProperties { SessionExpiryInterval = sessionExpiry } : null,
    };

    private ConnectPacket ClientConnect(string role, int index)
        => _o.Persistent
            ? Connect(string.Create(CultureInfo.InvariantCulture, $"{_o.ClientIdPrefix}-{role}{index}"), cleanStart: false, sessionExpiry: 300)
            : Connect(string.Create(CultureInfo.InvariantCulture, $"{_o.ClientIdPrefix}-{_runId}-{role}{index}"), cleanStart: true, sessionExpiry: 0);

    private async Task<BenchConnection> OpenAsync(ConnectPacket connect, int bufferSize, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ConnectTimeout);
        try
        {
            return await BenchConnection.OpenAsync(_endpoint, connect, bufferSize, timeout.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new BenchException($"connect timed out after {ConnectTimeout.TotalSeconds:F0} s");
        }
    }

    /// <summary>
    /// Opens <paramref name="count"/> connections, at most <see cref="BenchOptions.ConnectConcurrency"/> at once, spread
    /// over the ramp-up. One timeout covers the whole phase (a timer per connection costs more than the connect itself).
    /// </summary>
    private async Task<(BenchConnection?[] Connections, double Seconds)> ConnectManyAsync(
        int count, Func<int, ConnectPacket> connect, int bufferSize, Func<int, BenchConnection, Task>? setup, CancellationToken ct)
    {
        var connections = new BenchConnection?[count];
        using var gate = new SemaphoreSlim(Math.Max(1, _o.ConnectConcurrency));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ConnectTimeout + TimeSpan.FromSeconds(_o.RampUpSeconds + count / 1000.0));
        var start = Stopwatch.GetTimestamp();
        var tasks = new List<Task>(count);
        for (var i = 0; i < count && !ct.IsCancellationRequested; i++)
        {
            if (_o.RampUpSeconds > 0)
            {
                var due = TimeSpan.FromSeconds(_o.RampUpSeconds * i / count) - Stopwatch.GetElapsedTime(start);
                if (due > TimeSpan.FromMilliseconds(1)) await Task.Delay(due, ct);
            }
            await gate.WaitAsync(ct);
            tasks.Add(ConnectOneAsync(i));
        }
        await Task.WhenAll(tasks);
        return (connections, Stopwatch.GetElapsedTime(start).TotalSeconds);

        async Task ConnectOneAsync(int index)
        {
            try
            {
                var connection = await BenchConnection.OpenAsync(_endpoint, connect(index), bufferSize, timeout.Token, index);
                try
                {
                    if (setup is not null) await setup(index, connection);
                }
                catch
                {
                    await connection.DisposeAsync();
                    throw;
                }
                connections[index] = connection;
                Interlocked.Increment(ref _stats.Connected);
            }
            catch (Exception ex) when (ex is BenchException or IOException or System.Net.Sockets.SocketException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
            {
                Interlocked.Increment(ref _stats.ConnectFailures);
                _stats.Error($"connect {index}: {(ex is OperationCanceledException ? "timed out" : ex.Message)}");
            }
            finally
            {
                gate.Release();
            }
        }
    }

    private static async Task CloseAllAsync(IEnumerable<BenchConnection?> connections)
    {
        var tasks = connections.OfType<BenchConnection>().Select(c => c.DisconnectAsync());
        foreach (var chunk in tasks.Chunk(500)) await Task.WhenAll(chunk);
    }

    // ---------------------------------------------------------------- publish/subscribe flows

    private async Task<BenchResult> RunFlowAsync(
        int publisherCount, int subscriberCount, Func<int, string> publisherTopic, Func<int, string> subscriberFilter,
        Func<int, int, bool> expected, CancellationToken ct)
    {
        var qos = (QoS)_o.QoS!.Value;
        var result = new BenchResult { Publishers = publisherCount, Subscribers = subscriberCount };
        var subscribers = Enumerable.Range(0, subscriberCount).Select(i => new Subscriber(i, publisherCount, _stats)).ToArray();
        var publishers = Enumerable.Range(0, publisherCount)
            .Select(i => new Publisher(i, publisherTopic(i), qos, _o.PayloadSize, _o.Version, _stats)).ToArray();
        using var receiveStop = new CancellationTokenSource();
        var receiveLoops = new List<Task>();

        var connectStart = Stopwatch.GetTimestamp();
        var (subConnections, _) = await ConnectManyAsync(subscriberCount, i => ClientConnect("sub", i), SubscriberBuffer,
            (i, c) => c.SubscribeAsync(subscriberFilter(i), qos, ct), ct);
        for (var i = 0; i < subscriberCount; i++) subscribers[i].Connection = subConnections[i];
        var (pubConnections, _) = await ConnectManyAsync(publisherCount, i => ClientConnect("pub", i), PublisherBuffer, null, ct);
        result.ConnectSeconds = Stopwatch.GetElapsedTime(connectStart).TotalSeconds;
        result.ConnectRate = Interlocked.Read(ref _stats.Connected) / Math.Max(result.ConnectSeconds, 1e-9);

        foreach (var s in subscribers)
            if (s.Connection is { } c) receiveLoops.Add(c.ReceiveLoopAsync(s, receiveStop.Token));
        for (var i = 0; i < publishers.Length; i++)
        {
            if (pubConnections[i] is not { } c) continue;
            publishers[i].Connection = c;
            receiveLoops.Add(c.ReceiveLoopAsync(publishers[i], receiveStop.Token));
            var p = i;
            var audience = subscribers.Where(s => s.Connection is not null && expected(s.Index, p)).ToArray();
            if (audience.Length > 0) publishers[i].ReceivedByAll = () => MinReceived(audience, p);
        }

        // Publish.
        _phase = "publish";
        var cpu = new CpuMeter(_o.BrokerPid);
        var start = Stopwatch.GetTimestamp();
        var duration = _o.DurationSeconds!.Value;
        var deadline = duration > 0 ? start + (long)(duration * Stopwatch.Frequency) : long.MaxValue;
        var active = publishers.Where(p => p.Connection is not null).ToArray();
        var plans = SplitCount(_o.Count, active.Length)
            .Select((count, i) => new PublishPlan
            {
                Count = count, DeadlineTicks = deadline, Rate = _o.Rate, Inflight = _o.Inflight, Window = _o.Window!.Value,
                Phase = (double)i / active.Length,
            })
            .ToArray();
        using var publishStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (duration > 0) publishStop.CancelAfter(TimeSpan.FromSeconds(duration + 1));
        using var ticker = _o.Window > 0 && (QoS)_o.QoS!.Value == QoS.AtMostOnce && subscriberCount > 0 ? new WindowTicker(active) : null;
        var publishing = active.Select((p, i) => p.RunAsync(plans[i], publishStop.Token)).ToList();
        if (publisherCount == 0)
        {
            // sub alone: until the duration passes or --count messages arrived.
            while (!ct.IsCancellationRequested && Stopwatch.GetTimestamp() < deadline
                   && (_o.Count is not { } want || subscribers.Sum(s => s.Received) < want)
                   && subscribers.Any(s => !s.Closed))
                await Task.Delay(20, CancellationToken.None);
        }
        await WhenAllWaking(publishing, active, publishStop);
        var publishEnd = Stopwatch.GetTimestamp();

        // Drain: wait until every expected message arrived and every QoS 1/2 message is acknowledged, or nothing moves.
        _phase = "drain";
        await DrainAsync(() => FlowComplete(active, subscribers, expected, qos), () => Interlocked.Read(ref _stats.Received) + Interlocked.Read(ref _stats.Acked), ct);
        result.GeneratorCpuPercent = cpu.SelfPercent;
        result.BrokerCpuPercent = cpu.BrokerPercent;
        result.WallSeconds = cpu.WallSeconds;

        _phase = "close";
        await receiveStop.CancelAsync();
        await CloseAllAsync(subscribers.Select(s => s.Connection).Concat(publishers.Select(p => p.Connection)));
        await Task.WhenAll(receiveLoops);

        // Accounting.
        result.PublishSeconds = Seconds(start, publishEnd);
        result.Sent = publishers.Sum(p => p.Sent);
        result.Acked = publishers.Sum(p => p.AckedCount);
        result.Unacknowledged = qos > QoS.AtMostOnce ? publishers.Sum(p => p.Inflight) : 0;
        result.Received = subscribers.Sum(s => s.Received);
        result.SentRate = result.Sent / Math.Max(result.PublishSeconds, 1e-9);
        result.AckedRate = result.Acked / Math.Max(result.PublishSeconds, 1e-9);
        var lastArrival = subscribers.Select(s => s.LastReceiveTicks).DefaultIfEmpty(0).Max();
        result.ReceivedRate = lastArrival > start ? result.Received / Seconds(start, lastArrival) : 0;
        var latency = new LatencyHistogram();
        foreach (var s in subscribers) latency.Add(s.Latency);
        result.LatencyUs = latency.Count > 0 ? LatencySummary.From(latency) : null;
        Account(result, publishers, subscribers, expected, qos);
        return result;
    }

    /// <summary>127.0.0.1, 127.0.0.2, ... for a loopback IPv4 broker; none (the kernel chooses) otherwise or for 1.</summary>
    private static IPAddress[] SourceAddresses(IPAddress broker, int count)
    {
        if (count <= 1 || broker.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || !IPAddress.IsLoopback(broker)) return [];
        return [.. Enumerable.Range(1, Math.Min(count, 254)).Select(i => new IPAddress(new byte[] { 127, 0, 0, (byte)i }))];
    }

    private static long MinReceived(Subscriber[] audience, int publisher)
    {
        var min = long.MaxValue;
        foreach (var s in audience)
        {
            if (s.Closed) continue;
            min = Math.Min(min, s.UniqueFrom(publisher));
        }
        return min == long.MaxValue ? long.MaxValue / 2 : min;
    }

    /// <summary>Splits a total message count over publishers (the first ones take the remainder); unlimited without a count.</summary>
    internal static long[] SplitCount(long? total, int publishers)
    {
        var counts = new long[publishers];
        for (var i = 0; i < publishers; i++)
            counts[i] = total is { } t ? t / publishers + (i < t % publishers ? 1 : 0) : long.MaxValue;
        return counts;
    }

    /// <summary>
    /// Waits for the publish loops. A loop blocked on acknowledgements is woken when its token fires; when neither
    /// sent nor acknowledged counts move for 30 s (a broker that stopped answering), the loops are stopped.
    /// </summary>
    private async Task WhenAllWaking(List<Task> publishing, Publisher[] publishers, CancellationTokenSource stop)
    {
        var all = Task.WhenAll(publishing);
        var lastProgress = -1L;
        var stalledSince = Stopwatch.GetTimestamp();
        while (!all.IsCompleted)
        {
            await Task.WhenAny(all, Task.Delay(100, CancellationToken.None));
            var progress = Interlocked.Read(ref _stats.Sent) + Interlocked.Read(ref _stats.Acked);
            if (progress != lastProgress)
            {
                lastProgress = progress;
                stalledSince = Stopwatch.GetTimestamp();
            }
            else if (Stopwatch.GetElapsedTime(stalledSince) > TimeSpan.FromSeconds(30) && !stop.IsCancellationRequested)
            {
                _stats.Error("no progress for 30 s: stopping the publishers");
                await stop.CancelAsync();
            }
            if (stop.IsCancellationRequested)
                foreach (var p in publishers) p.Wake();
        }
        await all;
    }

    /// <summary>Polls until <paramref name="complete"/>, or nothing moved for <see cref="DrainIdle"/>, or the drain timeout.</summary>
    private async Task DrainAsync(Func<bool> complete, Func<long> progress, CancellationToken ct)
    {
        var start = Stopwatch.GetTimestamp();
        var last = progress();
        var lastChange = start;
        while (!ct.IsCancellationRequested && !complete())
        {
            await Task.Delay(10, CancellationToken.None);
            var now = progress();
            if (now != last)
            {
                last = now;
                lastChange = Stopwatch.GetTimestamp();
            }
            else if (Stopwatch.GetElapsedTime(lastChange) > DrainIdle) return;
            if (Stopwatch.GetElapsedTime(start).TotalSeconds > _o.DrainTimeoutSeconds)
            {
                _stats.Error($"drain timeout ({_o.DrainTimeoutSeconds:F0} s) with messages still arriving");
                return;
            }
        }
    }

    private static bool FlowComplete(Publisher[] publishers, Subscriber[] subscribers, Func<int, int, bool> expected, QoS qos)
    {
        foreach (var p in publishers)
        {
            if (qos > QoS.AtMostOnce && p.Inflight > 0 && !p.Closed) return false;
            var target = qos == QoS.AtMostOnce ? p.Sent : p.AckedCount;
            foreach (var s in subscribers)
            {
                if (s.Connection is null || s.Closed || !expected(s.Index, p.Index)) continue;
                if (s.UniqueFrom(p.Index) < target) return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Lost: for each expected (subscriber, publisher) pair, QoS 0 messages sent and QoS 1/2 messages acknowledged that
    /// the subscriber never received. Without publishers in this process (sub), gaps in each publisher's sequence.
    /// </summary>
    internal static void Account(BenchResult result, Publisher[] publishers, Subscriber[] subscribers, Func<int, int, bool> expected, QoS qos)
    {
        long lost = 0, duplicates = 0, outOfOrder = 0;
        foreach (var s in subscribers)
        {
            foreach (var (_, tracker) in s.Trackers())
            {
                duplicates += tracker.Duplicates;
                outOfOrder += tracker.OutOfOrder;
                if (publishers.Length == 0) lost += tracker.Gaps;
            }
            if (s.Connection is null) continue;
            foreach (var p in publishers)
            {
                if (!expected(s.Index, p.Index)) continue;
                lost += Lost(qos, p.Sent, p.Acked, s.TrackerOf(p.Index)?.Seen);
            }
        }
        result.Lost = lost;
        result.Duplicates = duplicates;
        result.OutOfOrder = outOfOrder;
    }

    /// <summary>
    /// Messages of one publisher one subscriber should have had and did not: at QoS 0 every sequence 1..<paramref name="sent"/>,
    /// at QoS 1/2 every acknowledged sequence.
    /// </summary>
    internal static long Lost(QoS qos, long sent, SequenceSet? acknowledged, SequenceSet? seen)
    {
        if (qos == QoS.AtMostOnce) return sent - (seen?.CountInRange(sent) ?? 0);
        if (acknowledged is null) return 0;
        return seen is null ? acknowledged.Count : acknowledged.CountMissingFrom(seen);
    }

    private static double Seconds(long from, long to) => (to - from) / (double)Stopwatch.Frequency;

    // ---------------------------------------------------------------- connections only

    private async Task<BenchResult> RunConnectionsAsync(int count, CancellationToken ct)
    {
        var result = new BenchResult();
        var pid = _o.BrokerPid;
        result.BrokerRssBeforeBytes = pid is { } p1 ? ProcessStats.RssBytes(p1) : null;
        var cpu = new CpuMeter(pid);
        var (connections, seconds) = await ConnectManyAsync(count, i => ClientConnect("conn", i), IdleBuffer, null, ct);
        result.ConnectSeconds = seconds;
        var connected = Interlocked.Read(ref _stats.Connected);
        result.ConnectRate = connected / Math.Max(seconds, 1e-9);
        result.GeneratorCpuPercent = cpu.SelfPercent;
        result.BrokerCpuPercent = cpu.BrokerPercent;
        result.WallSeconds = cpu.WallSeconds;

        _phase = "hold";
        var hold = _o.DurationSeconds ?? 0;
        if (hold > 0) await Task.Delay(TimeSpan.FromSeconds(hold), ct);
        if (pid is { } p2 && ProcessStats.RssBytes(p2) is { } after && result.BrokerRssBeforeBytes is { } before)
        {
            result.BrokerRssAfterBytes = after;
            result.BrokerRssPerConnectionBytes = connected > 0 ? Math.Round((after - before) / (double)connected) : null;
        }
        _phase = "close";
        await CloseAllAsync(connections);
        return result;
    }

    // ---------------------------------------------------------------- backlog

    private async Task<BenchResult> RunBacklogAsync(int publisherCount, CancellationToken ct)
    {
        const uint expiry = 3600;
        var result = new BenchResult { Publishers = publisherCount, Subscribers = 1 };
        var clientId = $"{_o.ClientIdPrefix}-{_runId}-backlog";
        var topic = Topics.Expand(_o.Topic!, 0, 0);
        var v5 = _o.Version == ProtocolVersion.V500;

        // 1. The persistent session subscribes, then goes offline.
        if (!v5) await (await OpenAsync(Connect(clientId, cleanStart: true, 0), IdleBuffer, ct)).DisconnectAsync();
        var first = await OpenAsync(Connect(clientId, cleanStart: v5, expiry), IdleBuffer, ct);
        await first.SubscribeAsync(topic, QoS.AtLeastOnce, ct);
        await first.DisconnectAsync();
        await Task.Delay(200, ct); // let the broker see the session go offline

        // 2. The publishers queue the backlog.
        var publishers = Enumerable.Range(0, publisherCount)
            .Select(i => new Publisher(i, topic, QoS.AtLeastOnce, _o.PayloadSize, _o.Version, _stats)).ToArray();
        var (pubConnections, connectSeconds) = await ConnectManyAsync(publisherCount, i => ClientConnect("pub", i), PublisherBuffer, null, ct);
        result.ConnectSeconds = connectSeconds;
        result.ConnectRate = publisherCount / Math.Max(connectSeconds, 1e-9);
        using var receiveStop = new CancellationTokenSource();
        var receiveLoops = new List<Task>();
        for (var i = 0; i < publishers.Length; i++)
        {
            if (pubConnections[i] is not { } c) continue;
            publishers[i].Connection = c;
            receiveLoops.Add(c.ReceiveLoopAsync(publishers[i], receiveStop.Token));
        }
        var active = publishers.Where(p => p.Connection is not null).ToArray();
        _phase = "queue";
        var cpu = new CpuMeter(_o.BrokerPid);
        var start = Stopwatch.GetTimestamp();
        using var publishStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var plans = SplitCount(_o.Count, active.Length);
        var publishing = active.Select((p, i) => p.RunAsync(new PublishPlan { Count = plans[i], Inflight = _o.Inflight }, publishStop.Token)).ToList();
        await WhenAllWaking(publishing, active, publishStop);
        await DrainAsync(() => active.All(p => p.Inflight == 0 || p.Closed), () => Interlocked.Read(ref _stats.Acked), ct);
        var queued = Stopwatch.GetTimestamp();
        result.PublishSeconds = Seconds(start, queued);
        result.Sent = publishers.Sum(p => p.Sent);
        result.Acked = publishers.Sum(p => p.AckedCount);
        result.Unacknowledged = publishers.Sum(p => p.Inflight);
        result.SentRate = result.Sent / Math.Max(result.PublishSeconds, 1e-9);
        var queueRate = result.Acked / Math.Max(result.PublishSeconds, 1e-9);
        result.AckedRate = queueRate;
        result.QueueRate = queueRate;

        // 3. The session comes back and drains.
        _phase = "drain";
        var subscriber = new Subscriber(0, publisherCount, _stats);
        var drainStart = Stopwatch.GetTimestamp();
        var second = await OpenAsync(Connect(clientId, cleanStart: false, expiry), SubscriberBuffer, ct);
        if (!second.SessionPresent) _stats.Error("the broker did not keep the session (CONNACK session present = 0)");
        subscriber.Connection = second;
        receiveLoops.Add(second.ReceiveLoopAsync(subscriber, receiveStop.Token));
        await DrainAsync(() => active.All(p => subscriber.UniqueFrom(p.Index) >= p.AckedCount), () => subscriber.Received, ct);
        var drained = subscriber.LastReceiveTicks;
        result.Received = subscriber.Received;
        result.DrainSeconds = drained > drainStart ? Seconds(drainStart, drained) : 0;
        result.DrainRate = result.DrainSeconds > 0 ? result.Received / result.DrainSeconds : 0;
        result.ReceivedRate = result.DrainRate.Value;
        result.GeneratorCpuPercent = cpu.SelfPercent;
        result.BrokerCpuPercent = cpu.BrokerPercent;
        result.WallSeconds = cpu.WallSeconds;
        result.LatencyUs = null; // queueing time, not a latency

        _phase = "close";
        await receiveStop.CancelAsync();
        await CloseAllAsync(publishers.Select(p => p.Connection).Append(second));
        await Task.WhenAll(receiveLoops);
        Account(result, publishers, [subscriber], (_, _) => true, QoS.AtLeastOnce);

        // 4. Remove the session.
        try
        {
            await (await OpenAsync(Connect(clientId, cleanStart: true, 0), IdleBuffer, ct)).DisconnectAsync();
        }
        catch (BenchException ex)
        {
            _stats.Error($"removing the session: {ex.Message}");
        }
        return result;
    }
}
