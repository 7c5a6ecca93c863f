using System.Buffers;
using System.Diagnostics;
using System.Net.Sockets;
using System.Threading.Channels;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Testing;

/// <summary>Thrown by <see cref="MqttTestClient"/> when the server did not do what the test expected.</summary>
public sealed class MqttTestException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// A raw MQTT client for black-box tests over a real TCP socket. It does nothing on its own (no keep-alive, no
/// automatic acknowledgements): tests send exact packets or bytes and assert exact replies. Received bytes are split
/// into packets by the fixed header and decoded with <see cref="PacketReader"/> for <see cref="Version"/>.
/// </summary>
public sealed class MqttTestClient : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan DefaultQuietWindow = TimeSpan.FromMilliseconds(300);

    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly Channel<byte[]> _frames = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = false, SingleWriter = true });
    private readonly CancellationTokenSource _closing = new();
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly Task _readLoop;
    private readonly List<byte[]> _receivedBeforeClose = [];
    private int _nextPacketId;

    private MqttTestClient(TcpClient tcp, ProtocolVersion version, string name)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        Version = version;
        Name = name;
        _readLoop = Task.Run(ReadLoopAsync);
    }

    /// <summary>The version used to encode packets and decode the server's replies.</summary>
    public ProtocolVersion Version { get; set; }

    /// <summary>A label for failure messages (the client id once <see cref="ConnectAsync(ConnectPacket, TimeSpan?)"/> ran).</summary>
    public string Name { get; set; }

    /// <summary>True once the server closed the connection (EOF or reset) and every packet before it was read.</summary>
    public bool IsClosed => _frames.Reader.Completion.IsCompleted;

    /// <summary>Why the read side ended, if it ended with an error (reset, or the server sent a bad fixed header).</summary>
    public Exception? CloseError { get; private set; }

    /// <summary>Packets drained by <see cref="WaitForCloseAsync"/> before the connection closed.</summary>
    public IReadOnlyList<MqttPacket> PacketsBeforeClose => [.. _receivedBeforeClose.Select(Decode)];

    /// <summary>Largest packet the decoder accepts from the server.</summary>
    public uint MaximumIncomingPacketSize { get; set; } = 268_435_460;

    public static async Task<MqttTestClient> OpenAsync(int port, ProtocolVersion version, string name = "client", string host = "127.0.0.1")
    {
        var tcp = new TcpClient { NoDelay = true };
        try
        {
            using var cts = new CancellationTokenSource(DefaultTimeout);
            await tcp.ConnectAsync(host, port, cts.Token);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
        return new MqttTestClient(tcp, version, name);
    }

    /// <summary>Opens a socket and completes the CONNECT/CONNACK exchange, asserting a successful CONNACK.</summary>
    public static async Task<MqttTestClient> ConnectNewAsync(
        int port, ProtocolVersion version, string clientId, bool cleanStart = true, ushort keepAlive = 60,
        MqttProperties? properties = null, WillMessage? will = null)
    {
        var client = await OpenAsync(port, version, clientId);
        try
        {
            var connAck = await client.ConnectAsync(clientId, cleanStart, keepAlive, properties, will);
            if (connAck.ReasonCode != ReasonCode.Success)
                throw new MqttTestException($"{clientId}: CONNACK refused the connection: {PacketFormatter.Describe(connAck)}");
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    // ---- sending ----

    public static byte[] Encode(MqttPacket packet, ProtocolVersion version)
    {
        var buffer = new ArrayBufferWriter<byte>();
        PacketWriter.Write(buffer, packet, version);
        return buffer.WrittenSpan.ToArray();
    }

    public Task SendAsync(MqttPacket packet) => SendAsync(Encode(packet, Version));

    public Task SendAsync(MqttPacket packet, ProtocolVersion version) => SendAsync(Encode(packet, version));

    public Task SendAsync(byte[] raw) => SendAsync(raw.AsMemory());

    public async Task SendAsync(ReadOnlyMemory<byte> raw)
    {
        await _sendLock.WaitAsync();
        try
        {
            await _stream.WriteAsync(raw);
            await _stream.FlushAsync();
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>Sends <paramref name="raw"/> in pieces of <paramref name="chunkSize"/> bytes, flushing each (packets split across TCP segments).</summary>
    public async Task SendInChunksAsync(byte[] raw, int chunkSize)
    {
        for (var offset = 0; offset < raw.Length; offset += chunkSize)
        {
            await SendAsync(raw.AsMemory(offset, Math.Min(chunkSize, raw.Length - offset)));
            await Task.Yield();
        }
    }

    /// <summary>Packet identifiers 1, 2, 3, ... (never 0).</summary>
    public ushort NextPacketId()
    {
        var id = (ushort)(Interlocked.Increment(ref _nextPacketId) % 65536);
        return id == 0 ? NextPacketId() : id;
    }

    // ---- receiving ----

    /// <summary>The bytes of the next packet from the server (fixed header included).</summary>
    public async Task<byte[]> ReceiveRawAsync(TimeSpan? timeout = null)
    {
        var limit = timeout ?? DefaultTimeout;
        using var cts = new CancellationTokenSource(limit);
        try
        {
            if (await _frames.Reader.WaitToReadAsync(cts.Token) && _frames.Reader.TryRead(out var frame)) return frame;
        }
        catch (OperationCanceledException)
        {
            throw new MqttTestException($"{Name}: no packet from the server within {limit.TotalMilliseconds:0} ms");
        }
        throw new MqttTestException($"{Name}: the server closed the connection while a packet was expected{CloseSuffix()}");
    }

    /// <summary>Completes with true once a packet is waiting (without taking it), false once the connection closed.</summary>
    public async Task<bool> WaitToReceiveAsync(CancellationToken cancellationToken)
        => await _frames.Reader.WaitToReadAsync(cancellationToken);

    /// <summary>Takes the next packet if one is already waiting.</summary>
    public bool TryReceive(out MqttPacket? packet)
    {
        packet = _frames.Reader.TryRead(out var frame) ? Decode(frame) : null;
        return packet is not null;
    }

    /// <summary>The next packet from the server, decoded for <see cref="Version"/>.</summary>
    public async Task<MqttPacket> ReceiveAsync(TimeSpan? timeout = null) => Decode(await ReceiveRawAsync(timeout));

    /// <summary>The next packet, which must be a <typeparamref name="T"/>.</summary>
    public async Task<T> ReceiveAsync<T>(TimeSpan? timeout = null) where T : MqttPacket
    {
        var packet = await ReceiveAsync(timeout);
        return packet as T
            ?? throw new MqttTestException($"{Name}: expected {typeof(T).Name} but received {PacketFormatter.Describe(packet)}");
    }

    public Task<PublishPacket> ReceivePublishAsync(TimeSpan? timeout = null) => ReceiveAsync<PublishPacket>(timeout);

    /// <summary>Receives publishes until <paramref name="count"/> arrived (any other packet fails).</summary>
    public async Task<List<PublishPacket>> ReceivePublishesAsync(int count, TimeSpan? timeout = null)
    {
        var result = new List<PublishPacket>(count);
        for (var i = 0; i < count; i++) result.Add(await ReceivePublishAsync(timeout));
        return result;
    }

    /// <summary>Asserts that no packet arrives within <paramref name="window"/> and that the connection stays open.</summary>
    public async Task ExpectNoPacketAsync(TimeSpan? window = null, bool allowClose = false)
    {
        var limit = window ?? DefaultQuietWindow;
        using var cts = new CancellationTokenSource(limit);
        try
        {
            if (await _frames.Reader.WaitToReadAsync(cts.Token) && _frames.Reader.TryRead(out var frame))
                throw new MqttTestException($"{Name}: expected no packet within {limit.TotalMilliseconds:0} ms but received {PacketFormatter.Describe(Decode(frame))}");
            if (!allowClose)
                throw new MqttTestException($"{Name}: expected no packet within {limit.TotalMilliseconds:0} ms but the server closed the connection{CloseSuffix()}");
        }
        catch (OperationCanceledException)
        {
            // Quiet for the whole window.
        }
    }

    /// <summary>
    /// Waits until the server closes the connection; true when it did within <paramref name="timeout"/>. Packets that
    /// arrive before the close are kept in <see cref="PacketsBeforeClose"/>.
    /// </summary>
    public async Task<bool> WaitForCloseAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            while (await _frames.Reader.WaitToReadAsync(cts.Token))
            {
                while (_frames.Reader.TryRead(out var frame)) _receivedBeforeClose.Add(frame);
            }
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>
    /// The reaction to a protocol violation: a 5.0 client gets DISCONNECT with one of <paramref name="reasonCodes"/>
    /// then the close; a 3.1.1 client gets only the close.
    /// </summary>
    public async Task ExpectDisconnectAndCloseAsync(params ReasonCode[] reasonCodes)
    {
        if (Version == ProtocolVersion.V500)
        {
            var packet = await ReceiveAsync();
            if (packet is not DisconnectPacket disconnect)
                throw new MqttTestException($"{Name}: expected DISCONNECT {Codes(reasonCodes)} but received {PacketFormatter.Describe(packet)}");
            if (!reasonCodes.Contains(disconnect.ReasonCode))
                throw new MqttTestException($"{Name}: expected DISCONNECT {Codes(reasonCodes)} but received {PacketFormatter.Describe(packet)}");
        }
        await ExpectCloseAsync();
    }

    /// <summary>Asserts the server closes the connection without sending anything more.</summary>
    public async Task ExpectCloseAsync(TimeSpan? timeout = null)
    {
        if (!await WaitForCloseAsync(timeout))
            throw new MqttTestException($"{Name}: the server did not close the connection within {(timeout ?? DefaultTimeout).TotalSeconds:0.#} s");
        if (_receivedBeforeClose.Count > 0)
            throw new MqttTestException($"{Name}: expected only the close but received {string.Join(", ", PacketsBeforeClose.Select(PacketFormatter.Describe))}");
    }

    // ---- conveniences ----

    public Task<ConnAckPacket> ConnectAsync(
        string clientId, bool cleanStart = true, ushort keepAlive = 60, MqttProperties? properties = null,
        WillMessage? will = null, string? userName = null, ReadOnlyMemory<byte>? password = null)
        => ConnectAsync(new ConnectPacket
        {
            ProtocolName = Version == ProtocolVersion.V310 ? "MQIsdp" : "MQTT",
            ProtocolVersion = Version,
            ClientId = clientId,
            CleanStart = cleanStart,
            KeepAliveSeconds = keepAlive,
            Properties = properties,
            Will = will,
            UserName = userName,
            Password = password,
        });

    /// <summary>Sends CONNECT and returns the CONNACK (whatever its reason code).</summary>
    public async Task<ConnAckPacket> ConnectAsync(ConnectPacket connect, TimeSpan? timeout = null)
    {
        if (connect.ClientId.Length > 0) Name = connect.ClientId;
        await SendAsync(connect);
        return await ReceiveAsync<ConnAckPacket>(timeout);
    }

    public Task<SubAckPacket> SubscribeAsync(string filter, QoS qos = QoS.AtMostOnce, MqttProperties? properties = null,
        bool noLocal = false, bool retainAsPublished = false, byte retainHandling = 0)
        => SubscribeAsync([new TopicSubscription
        {
            TopicFilter = filter, MaximumQoS = qos, NoLocal = noLocal, RetainAsPublished = retainAsPublished, RetainHandling = retainHandling,
        }], properties);

    /// <summary>Sends SUBSCRIBE and returns the SUBACK, checking its packet identifier.</summary>
    public async Task<SubAckPacket> SubscribeAsync(IEnumerable<TopicSubscription> subscriptions, MqttProperties? properties = null)
    {
        var id = NextPacketId();
        await SendAsync(new SubscribePacket { PacketId = id, Subscriptions = [.. subscriptions], Properties = properties });
        var subAck = await ReceiveAsync<SubAckPacket>();
        if (subAck.PacketId != id) throw new MqttTestException($"{Name}: SUBACK for packet id {subAck.PacketId}, expected {id}");
        return subAck;
    }

    /// <summary>Subscribes and asserts every filter was granted the requested QoS.</summary>
    public async Task SubscribeGrantedAsync(string filter, QoS qos = QoS.AtMostOnce, MqttProperties? properties = null,
        bool noLocal = false, bool retainAsPublished = false, byte retainHandling = 0)
    {
        var subAck = await SubscribeAsync(filter, qos, properties, noLocal, retainAsPublished, retainHandling);
        if (subAck.ReasonCodes.Count != 1 || subAck.ReasonCodes[0] != (ReasonCode)(byte)qos)
            throw new MqttTestException($"{Name}: SUBSCRIBE {filter} QoS {(int)qos} not granted: {PacketFormatter.Describe(subAck)}");
    }

    public async Task<UnsubAckPacket> UnsubscribeAsync(params string[] filters)
    {
        var id = NextPacketId();
        await SendAsync(new UnsubscribePacket { PacketId = id, TopicFilters = [.. filters] });
        var unsubAck = await ReceiveAsync<UnsubAckPacket>();
        if (unsubAck.PacketId != id) throw new MqttTestException($"{Name}: UNSUBACK for packet id {unsubAck.PacketId}, expected {id}");
        return unsubAck;
    }

    /// <summary>
    /// Publishes and completes the QoS flow: nothing for QoS 0 (returns null), PUBACK for QoS 1, PUBREC/PUBREL/PUBCOMP
    /// for QoS 2 (returns the PUBCOMP, or the PUBREC when it carries a failure reason code).
    /// </summary>
    public async Task<PublishFlowPacket?> PublishAsync(string topic, ReadOnlyMemory<byte> payload, QoS qos = QoS.AtMostOnce,
        bool retain = false, MqttProperties? properties = null)
    {
        var publish = new PublishPacket
        {
            Topic = topic, Payload = payload, QoS = qos, Retain = retain, Properties = properties,
            PacketId = qos == QoS.AtMostOnce ? (ushort)0 : NextPacketId(),
        };
        return await PublishAsync(publish);
    }

    public Task<PublishFlowPacket?> PublishAsync(string topic, string payload, QoS qos = QoS.AtMostOnce, bool retain = false, MqttProperties? properties = null)
        => PublishAsync(topic, System.Text.Encoding.UTF8.GetBytes(payload), qos, retain, properties);

    public async Task<PublishFlowPacket?> PublishAsync(PublishPacket publish)
    {
        await SendAsync(publish);
        switch (publish.QoS)
        {
            case QoS.AtMostOnce:
                return null;
            case QoS.AtLeastOnce:
            {
                var ack = await ReceiveAsync<PubAckPacket>();
                CheckId(ack, publish.PacketId);
                return ack;
            }
            default:
            {
                var rec = await ReceiveAsync<PubRecPacket>();
                CheckId(rec, publish.PacketId);
                if ((byte)rec.ReasonCode >= 0x80) return rec;
                await SendAsync(new PubRelPacket { PacketId = publish.PacketId });
                var comp = await ReceiveAsync<PubCompPacket>();
                CheckId(comp, publish.PacketId);
                return comp;
            }
        }
    }

    /// <summary>Acknowledges a received publish: PUBACK for QoS 1; PUBREC, expect PUBREL, PUBCOMP for QoS 2.</summary>
    public async Task AckAsync(PublishPacket publish)
    {
        switch (publish.QoS)
        {
            case QoS.AtLeastOnce:
                await SendAsync(new PubAckPacket { PacketId = publish.PacketId });
                break;
            case QoS.ExactlyOnce:
                await SendAsync(new PubRecPacket { PacketId = publish.PacketId });
                var rel = await ReceiveAsync<PubRelPacket>();
                CheckId(rel, publish.PacketId);
                await SendAsync(new PubCompPacket { PacketId = publish.PacketId });
                break;
        }
    }

    /// <summary>PINGREQ and wait for PINGRESP: proves the connection and the server are alive.</summary>
    public async Task PingAsync(TimeSpan? timeout = null)
    {
        await SendAsync(PingReqPacket.Instance);
        await ReceiveAsync<PingRespPacket>(timeout);
    }

    /// <summary>
    /// Sends DISCONNECT, waits (a bounded time) for the server to close the connection, then closes the socket. The
    /// server detaches the session before it closes, so once this returns a message published to the client's topics is
    /// queued for the offline session rather than sent down this connection (and later resent with DUP set).
    /// </summary>
    public async Task DisconnectAsync(ReasonCode reasonCode = ReasonCode.NormalDisconnection, MqttProperties? properties = null)
    {
        try
        {
            await SendAsync(new DisconnectPacket { ReasonCode = reasonCode, Properties = properties });
            await WaitForCloseAsync(TimeSpan.FromSeconds(5));
        }
        catch (IOException)
        {
            // Already closed by the server.
        }
        await CloseAsync();
    }

    /// <summary>Closes the socket gracefully (FIN) without DISCONNECT: an abnormal close from MQTT's point of view.</summary>
    public async Task CloseAsync()
    {
        try
        {
            _tcp.Client.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        await DisposeAsync();
    }

    /// <summary>Resets the connection (RST), as a crashed client or a dropped network would.</summary>
    public async Task AbortAsync()
    {
        try
        {
            _tcp.Client.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        await DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_closing.IsCancellationRequested) return;
        await _closing.CancelAsync();
        _tcp.Dispose();
        try
        {
            await _readLoop.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
        }
        _closing.Dispose();
        _sendLock.Dispose();
    }

    public MqttPacket Decode(byte[] frame)
    {
        var sequence = new ReadOnlySequence<byte>(frame);
        try
        {
            if (PacketReader.TryRead(ref sequence, Version, MaximumIncomingPacketSize, out var packet) && packet is not null && sequence.IsEmpty)
                return packet;
        }
        catch (MqttProtocolException e)
        {
            throw new MqttTestException($"{Name}: the server sent a packet that does not decode as {Version}: {e.Message}: {Hex(frame)}", e);
        }
        throw new MqttTestException($"{Name}: the server sent a packet that does not decode as {Version}: {Hex(frame)}");
    }

    public static string Hex(ReadOnlySpan<byte> bytes)
    {
        const int max = 256;
        var hex = Convert.ToHexString(bytes.Length > max ? bytes[..max] : bytes);
        return bytes.Length > max ? hex + $"... ({bytes.Length} bytes)" : hex;
    }

    private async Task ReadLoopAsync()
    {
        var pending = new ArrayBufferWriter<byte>();
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var read = await _stream.ReadAsync(buffer, _closing.Token);
                if (read == 0) break;
                pending.Write(buffer.AsSpan(0, read));
                var consumed = 0;
                while (TryFrame(pending.WrittenSpan[consumed..], out var length))
                {
                    _frames.Writer.TryWrite(pending.WrittenSpan.Slice(consumed, length).ToArray());
                    consumed += length;
                }
                if (consumed > 0)
                {
                    var rest = pending.WrittenSpan[consumed..].ToArray();
                    pending.Clear();
                    pending.Write(rest);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or MqttTestException)
        {
            CloseError = e;
        }
        _frames.Writer.TryComplete();
    }

    /// <summary>Whether <paramref name="data"/> starts with a complete packet, and its total length.</summary>
    private static bool TryFrame(ReadOnlySpan<byte> data, out int length)
    {
        length = 0;
        if (data.Length < 2) return false;
        var remaining = 0;
        var multiplier = 1;
        for (var i = 1; ; i++)
        {
            if (i > 4) throw new MqttTestException($"the server sent a remaining length longer than 4 bytes: {Hex(data[..5])}");
            if (i >= data.Length) return false;
            remaining += (data[i] & 0x7F) * multiplier;
            multiplier *= 128;
            if ((data[i] & 0x80) == 0)
            {
                length = 1 + i + remaining;
                return data.Length >= length;
            }
        }
    }

    private void CheckId(PublishFlowPacket packet, ushort expected)
    {
        if (packet.PacketId != expected)
            throw new MqttTestException($"{Name}: {packet.Type} for packet id {packet.PacketId}, expected {expected}");
    }

    private string CloseSuffix() => CloseError is null ? "" : $" ({CloseError.GetType().Name}: {CloseError.Message})";

    private static string Codes(ReasonCode[] codes) => string.Join(" or ", codes.Select(c => $"0x{(byte)c:X2}"));
}
