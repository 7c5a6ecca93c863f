using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;

namespace Gatehouse.Broker.Tests.Durability;

/// <summary>Connection handling shared by the crash-test clients: persistent sessions, reconnecting until the server is back.</summary>
internal static class CrashConnection
{
    public const uint SessionExpiry = 3600;

    /// <summary>True for the failures a killed server causes on the client side.</summary>
    // Callers check their own cancellation token as well (a connect timeout is an OperationCanceledException too).
    public static bool IsConnectionLoss(Exception e) =>
        e is MqttTestException or IOException or SocketException or ObjectDisposedException or TimeoutException or OperationCanceledException;

    /// <summary>
    /// Connects with Clean Start 0 (3.1.1: Clean Session 0; 5.0: Session Expiry 3600 s), retrying while the server is
    /// down or starting. Returns the client and Session Present.
    /// </summary>
    public static async Task<(MqttTestClient Client, bool SessionPresent)> ConnectAsync(
        Func<int> port, ProtocolVersion version, string clientId, CancellationToken cancellationToken)
    {
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            MqttTestClient? client = null;
            try
            {
                client = await MqttTestClient.OpenAsync(port(), version, clientId);
                var connAck = await client.ConnectAsync(clientId, cleanStart: false, keepAlive: 0,
                    properties: version == ProtocolVersion.V500 ? new MqttProperties { SessionExpiryInterval = SessionExpiry } : null);
                if (connAck.ReasonCode == ReasonCode.Success) return (client, connAck.SessionPresent);
            }
            catch (Exception e) when (IsConnectionLoss(e) && !cancellationToken.IsCancellationRequested)
            {
                // The server is down or still starting.
            }
            if (client is not null) await client.DisposeAsync();
            await Task.Delay(25, cancellationToken);
        }
    }

    public static string Payload(string publisher, int number) => $"{publisher}:{number}";
}

/// <summary>
/// A publisher with a persistent session sending numbered QoS 1 or QoS 2 messages, up to <see cref="Window"/> at a time,
/// and recording which were acknowledged (PUBACK, PUBCOMP). After a reconnect it resends as the specification requires
/// [MQTT-4.4.0-1]: PUBREL for messages that had their PUBREC, PUBLISH with DUP and the same packet id otherwise.
/// </summary>
internal sealed class CrashPublisher(string name, ProtocolVersion version, QoS qos, string topicRoot, bool retain, int limit)
{
    public const int Window = 16;

    private readonly SortedDictionary<int, Pending> _pending = [];
    private readonly ConcurrentDictionary<int, byte> _acknowledged = new();
    private readonly ConcurrentQueue<string> _errors = new();
    private volatile bool _stop;
    private int _sent;

    public string Name => name;
    public QoS QoS => qos;
    public bool Retain => retain;
    public string TopicRoot => $"{topicRoot}/{name}";
    public int Sent => Volatile.Read(ref _sent);
    public int AcknowledgedCount => _acknowledged.Count;
    public IReadOnlyCollection<int> Acknowledged => [.. _acknowledged.Keys];
    public int Reconnects { get; private set; }
    public int Resent { get; private set; }
    public IReadOnlyCollection<string> Errors => _errors;
    /// <summary>Messages sent but neither acknowledged nor refused (non-empty only while running).</summary>
    public int PendingCount { get; private set; }

    /// <summary>No new messages from now on; <see cref="RunAsync"/> completes once every sent message is acknowledged.</summary>
    public void Stop() => _stop = true;

    public async Task RunAsync(Func<int> port, CancellationToken cancellationToken)
    {
        var connected = false;
        while (true)
        {
            var (client, present) = await CrashConnection.ConnectAsync(port, version, name, cancellationToken);
            await using var _ = client;
            if (connected)
            {
                Reconnects++;
                // The session (and the QoS 2 packet ids the server holds for it) must have survived.
                if (!present) _errors.Enqueue($"{name}: CONNACK after reconnect #{Reconnects} has Session Present 0");
            }
            connected = true;
            try
            {
                foreach (var (number, pending) in _pending)
                {
                    Resent++;
                    if (pending.PubRecReceived) await client.SendAsync(new PubRelPacket { PacketId = pending.PacketId });
                    else await client.SendAsync(Publish(number, dup: true));
                }
                while (true)
                {
                    while (!_stop && _pending.Count < Window && _sent < limit)
                    {
                        var number = Interlocked.Increment(ref _sent);
                        _pending[number] = new Pending(PacketIdOf(number));
                        PendingCount = _pending.Count;
                        await client.SendAsync(Publish(number, dup: false));
                    }
                    if (_pending.Count == 0 && (_stop || _sent >= limit))
                    {
                        await client.DisconnectAsync();
                        return;
                    }
                    await HandleAsync(client, await client.ReceiveAsync(TimeSpan.FromSeconds(15)));
                    PendingCount = _pending.Count;
                }
            }
            catch (Exception e) when (CrashConnection.IsConnectionLoss(e) && !cancellationToken.IsCancellationRequested)
            {
                // Killed server: reconnect and resend.
            }
        }
    }

    private async Task HandleAsync(MqttTestClient client, MqttPacket packet)
    {
        switch (packet)
        {
            case PubAckPacket ack when qos == QoS.AtLeastOnce && Find(ack.PacketId) is { } number:
                if ((byte)ack.ReasonCode >= 0x80) _errors.Enqueue($"{name}: PUBACK {ack.ReasonCode} for message {number}");
                else _acknowledged[number] = 0;
                _pending.Remove(number);
                break;
            case PubRecPacket rec when qos == QoS.ExactlyOnce && Find(rec.PacketId) is { } number:
                if ((byte)rec.ReasonCode >= 0x80)
                {
                    _errors.Enqueue($"{name}: PUBREC {rec.ReasonCode} for message {number}");
                    _pending.Remove(number);
                    break;
                }
                _pending[number].PubRecReceived = true;
                await client.SendAsync(new PubRelPacket { PacketId = rec.PacketId });
                break;
            case PubCompPacket comp when qos == QoS.ExactlyOnce && Find(comp.PacketId) is { } number && _pending[number].PubRecReceived:
                _acknowledged[number] = 0;
                _pending.Remove(number);
                break;
            default:
                _errors.Enqueue($"{name}: unexpected {PacketFormatter.Describe(packet)}");
                break;
        }
    }

    private int? Find(ushort packetId)
    {
        foreach (var (number, pending) in _pending)
        {
            if (pending.PacketId == packetId) return number;
        }
        return null;
    }

    private PublishPacket Publish(int number, bool dup) => new()
    {
        Topic = $"{TopicRoot}/{number}",
        Payload = Encoding.UTF8.GetBytes(CrashConnection.Payload(name, number)),
        QoS = qos,
        Retain = retain,
        Dup = dup,
        PacketId = PacketIdOf(number),
    };

    private static ushort PacketIdOf(int number) => (ushort)((number - 1) % 60_000 + 1);

    private sealed class Pending(ushort packetId)
    {
        public ushort PacketId { get; } = packetId;
        public bool PubRecReceived { get; set; }
    }
}

/// <summary>
/// A subscriber with a persistent session that acknowledges everything and counts what it hands to the application.
/// QoS 2 is received the way most clients do it (delivery on PUBLISH, method A of section 4.3.3): a PUBLISH whose packet
/// id is still unreleased is a duplicate and not delivered again; this state survives reconnects, as the session does.
/// </summary>
internal sealed class CrashSubscriber(string clientId, ProtocolVersion version, string filter)
{
    private readonly HashSet<ushort> _unreleased = [];
    private readonly ConcurrentDictionary<string, int> _delivered = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _errors = new();
    private long _lastPacketTimestamp = Stopwatch.GetTimestamp();

    public string ClientId => clientId;
    public string Filter => filter;
    public ProtocolVersion Version => version;
    public int Connections { get; private set; }
    public IReadOnlyCollection<string> Errors => _errors;
    public int DeliveredCount => _delivered.Count;
    public TimeSpan SinceLastPacket => Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastPacketTimestamp));

    /// <summary>How many times the message with this payload reached the application.</summary>
    public int Delivered(string payload) => _delivered.GetValueOrDefault(payload);

    public IEnumerable<string> Payloads => _delivered.Keys;

    /// <summary>Creates the session and its subscription (QoS 2), then disconnects normally when <paramref name="stayOffline"/>.</summary>
    public async Task SubscribeAsync(int port, bool stayOffline)
    {
        var (client, present) = await CrashConnection.ConnectAsync(() => port, version, clientId, CancellationToken.None);
        await using var _ = client;
        Assert.False(present, $"{clientId}: new session reported present");
        await client.SubscribeGrantedAsync(filter, QoS.ExactlyOnce);
        if (stayOffline) await client.DisconnectAsync();
    }

    /// <summary>Connects (again and again after each kill), acknowledging and counting, until <paramref name="stop"/>.</summary>
    public async Task RunAsync(Func<int> port, CancellationToken stop)
    {
        try
        {
            while (true)
            {
                var (client, present) = await CrashConnection.ConnectAsync(port, version, clientId, stop);
                await using var _ = client;
                Connections++;
                // Subscriptions live in the session: no SUBSCRIBE after the first; the session must be there.
                if (!present) _errors.Enqueue($"{clientId}: CONNACK #{Connections} has Session Present 0");
                try
                {
                    while (await client.WaitToReceiveAsync(stop))
                    {
                        while (client.TryReceive(out var packet)) await HandleAsync(client, packet!);
                    }
                }
                catch (Exception e) when (CrashConnection.IsConnectionLoss(e) && !stop.IsCancellationRequested)
                {
                    // Killed server: reconnect.
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private async Task HandleAsync(MqttTestClient client, MqttPacket packet)
    {
        Interlocked.Exchange(ref _lastPacketTimestamp, Stopwatch.GetTimestamp());
        switch (packet)
        {
            case PublishPacket { QoS: QoS.ExactlyOnce } publish:
                // Until PUBREL, a PUBLISH with the same packet id is the same message [MQTT-4.3.3-9/10].
                if (_unreleased.Add(publish.PacketId)) Deliver(publish);
                await client.SendAsync(new PubRecPacket { PacketId = publish.PacketId });
                break;
            case PublishPacket publish:
                Deliver(publish);
                if (publish.QoS == QoS.AtLeastOnce) await client.SendAsync(new PubAckPacket { PacketId = publish.PacketId });
                break;
            case PubRelPacket release:
                _unreleased.Remove(release.PacketId);
                await client.SendAsync(new PubCompPacket { PacketId = release.PacketId });
                break;
            default:
                _errors.Enqueue($"{clientId}: unexpected {PacketFormatter.Describe(packet)}");
                break;
        }
    }

    private void Deliver(PublishPacket publish)
    {
        var payload = Encoding.UTF8.GetString(publish.Payload.Span);
        _delivered.AddOrUpdate(payload, 1, static (_, count) => count + 1);
    }
}
