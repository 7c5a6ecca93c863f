using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Bench;

/// <summary>Receives what a connection's receive loop decodes. Called on the receive loop; must not block.</summary>
internal interface IPacketSink
{
    /// <summary>A PUBLISH arrived (its acknowledgement is already queued).</summary>
    void OnPublish(ReadOnlySpan<byte> payload);

    /// <summary>The outgoing QoS 1 (PUBACK) or QoS 2 (PUBCOMP) flow of <paramref name="packetId"/> ended; failed when the reason code was ≥ 0x80.</summary>
    void OnAck(ushort packetId, bool failed);

    /// <summary>The connection ended (EOF, reset, or a DISCONNECT from the server) while the run still wanted it.</summary>
    void OnClosed(string reason);
}

/// <summary>Where to connect.</summary>
public sealed record BenchEndpoint(IPAddress Address, int Port, string Host, bool Tls)
{
    /// <summary>Local addresses to spread connections over (127.0.0.x), so that many connections do not exhaust one source address's ports.</summary>
    public IReadOnlyList<IPAddress> SourceAddresses { get; init; } = [];
}

/// <summary>
/// One MQTT client connection over a raw socket (or TLS over it). The handshake uses the protocol codec
/// (<see cref="PacketWriter"/>, <see cref="PacketReader"/>); the receive loop parses PUBLISH and acknowledgements in
/// place, many packets per read, and writes the acknowledgements of one read in one send.
/// </summary>
internal sealed class BenchConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly Stream _stream;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private byte[] _rx;
    private int _rxStart;
    private int _rxEnd;
    private byte[] _acks = [];
    private int _ackLength;
    private volatile bool _closing;

    private BenchConnection(Socket socket, Stream stream, ProtocolVersion version, int receiveBufferSize)
    {
        _socket = socket;
        _stream = stream;
        Version = version;
        _rx = new byte[receiveBufferSize];
    }

    public ProtocolVersion Version { get; }

    public bool SessionPresent { get; private set; }

    // Linux's IP_BIND_ADDRESS_NO_PORT: bind() takes the source address only and connect() picks the port. A bind to port
    // 0 must find a port free for every destination, a search that grows with the ports in use (a third of the
    // generator's time at 19,000 connections); connect() needs one free only for this broker's address and port.
    private const int IpProtocolLevel = 0, IpBindAddressNoPort = 24;

    internal static void BindSource(Socket socket, IPAddress source)
    {
        if (OperatingSystem.IsLinux())
        {
            Span<byte> on = stackalloc byte[sizeof(int)];
            BitConverter.TryWriteBytes(on, 1);
            socket.SetRawSocketOption(IpProtocolLevel, IpBindAddressNoPort, on);
        }
        socket.Bind(new IPEndPoint(source, 0));
    }

    /// <summary>Opens the socket, sends CONNECT and waits for a successful CONNACK (else throws <see cref="BenchException"/>).</summary>
    public static async Task<BenchConnection> OpenAsync(BenchEndpoint endpoint, ConnectPacket connect, int receiveBufferSize, CancellationToken ct, int index = 0)
    {
        var socket = new Socket(endpoint.Address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Stream? stream = null;
        try
        {
            if (endpoint.SourceAddresses.Count > 0) BindSource(socket, endpoint.SourceAddresses[index % endpoint.SourceAddresses.Count]);
            await socket.ConnectAsync(new IPEndPoint(endpoint.Address, endpoint.Port), ct);
            stream = new NetworkStream(socket, ownsSocket: true);
            if (endpoint.Tls)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                stream = ssl;
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = endpoint.Host,
                    // A benchmark of a local broker: the certificate is usually self-signed.
#pragma warning disable CA5359
                    RemoteCertificateValidationCallback = (_, _, _, _) => true,
#pragma warning restore CA5359
                }, ct);
            }
            var connection = new BenchConnection(socket, stream, connect.ProtocolVersion, receiveBufferSize);
            await connection.SendPacketAsync(connect, ct);
            var reply = await connection.ReadControlPacketAsync(ct);
            if (reply is not ConnAckPacket connAck) throw new BenchException($"expected CONNACK, got {reply.Type}");
            if (connAck.ReasonCode != ReasonCode.Success)
                throw new BenchException($"CONNACK refused: {connAck.ReasonCode} (0x{(byte)connAck.ReasonCode:X2})");
            connection.SessionPresent = connAck.SessionPresent;
            return connection;
        }
        catch
        {
            if (stream is not null) await stream.DisposeAsync();
            else socket.Dispose();
            throw;
        }
    }

    /// <summary>SUBSCRIBE one filter and wait for its SUBACK; call before the receive loop starts.</summary>
    public async Task SubscribeAsync(string filter, QoS qos, CancellationToken ct)
    {
        var subscribe = new SubscribePacket
        {
            PacketId = 1,
            Subscriptions = [new TopicSubscription { TopicFilter = filter, MaximumQoS = qos }],
        };
        await SendPacketAsync(subscribe, ct);
        while (true)
        {
            var reply = await ReadControlPacketAsync(ct);
            if (reply is SubAckPacket subAck)
            {
                if (subAck.ReasonCodes.Count != 1 || (byte)subAck.ReasonCodes[0] >= 0x80)
                    throw new BenchException($"SUBSCRIBE {filter} refused: {string.Join(",", subAck.ReasonCodes)}");
                return;
            }
            if (reply is DisconnectPacket d) throw new BenchException($"DISCONNECT {d.ReasonCode} instead of SUBACK");
        }
    }

    public async Task SendPacketAsync(MqttPacket packet, CancellationToken ct)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        PacketWriter.Write(buffer, packet, Version);
        await SendAsync(buffer.WrittenMemory, ct);
    }

    /// <summary>Writes bytes; one writer at a time (a publish loop and the receive loop's acknowledgements share the stream).</summary>
    public async ValueTask SendAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        await _writeLock.WaitAsync(ct);
        try
        {
            await _stream.WriteAsync(bytes, ct);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Reads one packet with the protocol codec (handshake only: allocates).</summary>
    private async Task<MqttPacket> ReadControlPacketAsync(CancellationToken ct)
    {
        while (true)
        {
            var sequence = new ReadOnlySequence<byte>(_rx, _rxStart, _rxEnd - _rxStart);
            var before = sequence.Length;
            if (PacketReader.TryRead(ref sequence, Version, uint.MaxValue, out var packet))
            {
                _rxStart += (int)(before - sequence.Length);
                return packet!;
            }
            MakeRoom(_rxEnd - _rxStart + 1);
            var read = await _stream.ReadAsync(_rx.AsMemory(_rxEnd), ct);
            if (read == 0) throw new BenchException("connection closed by the server");
            _rxEnd += read;
        }
    }

    /// <summary>
    /// Reads until the connection ends or <paramref name="ct"/> fires. PUBLISH → sink (after queueing its PUBACK or
    /// PUBREC), PUBACK/PUBCOMP → sink, PUBREC → PUBREL, PUBREL → PUBCOMP. Acknowledgements of one read go out in one write.
    /// </summary>
    public async Task ReceiveLoopAsync(IPacketSink sink, CancellationToken ct)
    {
        if (_rx.Length < 4096) Array.Resize(ref _rx, 4096);
        try
        {
            while (true)
            {
                var needed = ProcessBuffered(sink);
                if (_ackLength > 0)
                {
                    await SendAsync(_acks.AsMemory(0, _ackLength), ct);
                    _ackLength = 0;
                }
                MakeRoom(needed);
                var read = await _stream.ReadAsync(_rx.AsMemory(_rxEnd), ct);
                if (read == 0)
                {
                    if (!_closing && !ct.IsCancellationRequested) sink.OnClosed("connection closed by the server");
                    return;
                }
                _rxEnd += read;
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or BenchException)
        {
            if (!_closing && !ct.IsCancellationRequested) sink.OnClosed(ex.Message);
        }
    }

    /// <summary>Handles every complete packet in the buffer; returns the bytes the next packet needs in total (≥ 1).</summary>
    private int ProcessBuffered(IPacketSink sink)
    {
        var span = _rx.AsSpan(_rxStart, _rxEnd - _rxStart);
        var pos = 0;
        var needed = 1;
        while (pos < span.Length)
        {
            var rest = span[pos..];
            var used = ReadVariableByteInteger(rest[1..], out var remaining);
            if (used == 0)
            {
                needed = rest.Length + 1;
                break;
            }
            var total = 1 + used + remaining;
            if (rest.Length < total)
            {
                needed = total;
                break;
            }
            Handle(rest[0], rest.Slice(1 + used, remaining), sink);
            pos += total;
        }
        _rxStart += pos;
        return needed;
    }

    private void Handle(byte first, ReadOnlySpan<byte> body, IPacketSink sink)
    {
        switch (first >> 4)
        {
            case (int)PacketType.Publish:
            {
                var qos = (first >> 1) & 3;
                var offset = 2 + BinaryPrimitives.ReadUInt16BigEndian(body);
                ushort packetId = 0;
                if (qos > 0)
                {
                    packetId = BinaryPrimitives.ReadUInt16BigEndian(body[offset..]);
                    offset += 2;
                }
                if (Version == ProtocolVersion.V500)
                {
                    var used = ReadVariableByteInteger(body[offset..], out var propertiesLength);
                    if (used == 0) throw new BenchException("malformed PUBLISH properties");
                    offset += used + propertiesLength;
                }
                if (qos == 1) QueueAck(0x40, packetId);
                else if (qos == 2) QueueAck(0x50, packetId);
                sink.OnPublish(body[offset..]);
                break;
            }
            case (int)PacketType.PubAck:
            case (int)PacketType.PubComp:
                sink.OnAck(BinaryPrimitives.ReadUInt16BigEndian(body), body.Length > 2 && body[2] >= 0x80);
                break;
            case (int)PacketType.PubRec:
            {
                var packetId = BinaryPrimitives.ReadUInt16BigEndian(body);
                if (body.Length > 2 && body[2] >= 0x80) sink.OnAck(packetId, failed: true);
                else QueueAck(0x62, packetId);
                break;
            }
            case (int)PacketType.PubRel:
                QueueAck(0x70, BinaryPrimitives.ReadUInt16BigEndian(body));
                break;
            case (int)PacketType.Disconnect:
                _closing = true;
                sink.OnClosed(body.Length > 0 ? $"DISCONNECT from the server, reason 0x{body[0]:X2}" : "DISCONNECT from the server");
                break;
            default:
                break; // SUBACK, UNSUBACK, PINGRESP: nothing to do.
        }
    }

    private void QueueAck(byte first, ushort packetId)
    {
        if (_ackLength + 4 > _acks.Length) Array.Resize(ref _acks, Math.Max(1024, _acks.Length * 2));
        _acks[_ackLength] = first;
        _acks[_ackLength + 1] = 2;
        BinaryPrimitives.WriteUInt16BigEndian(_acks.AsSpan(_ackLength + 2), packetId);
        _ackLength += 4;
    }

    /// <summary>Moves unread bytes to the front and makes sure <paramref name="needed"/> bytes fit, with room to read.</summary>
    private void MakeRoom(int needed)
    {
        var unread = _rxEnd - _rxStart;
        if (_rxStart > 0 && (unread == 0 || _rx.Length - _rxEnd < Math.Max(needed - unread, _rx.Length / 4)))
        {
            Buffer.BlockCopy(_rx, _rxStart, _rx, 0, unread);
            _rxStart = 0;
            _rxEnd = unread;
        }
        if (needed > _rx.Length || _rxEnd == _rx.Length)
            Array.Resize(ref _rx, Math.Max(needed, _rx.Length * 2));
    }

    /// <summary>Bytes used by the Variable Byte Integer at the start of <paramref name="source"/>, 0 when incomplete.</summary>
    internal static int ReadVariableByteInteger(ReadOnlySpan<byte> source, out int value)
    {
        value = 0;
        var multiplier = 1;
        for (var i = 0; i < 4 && i < source.Length; i++)
        {
            value += (source[i] & 0x7F) * multiplier;
            if ((source[i] & 0x80) == 0) return i + 1;
            multiplier <<= 7;
        }
        if (source.Length >= 4) throw new BenchException("malformed Remaining Length");
        return 0;
    }

    /// <summary>Sends DISCONNECT (best effort) and closes.</summary>
    public async Task DisconnectAsync(ReasonCode reason = ReasonCode.Success)
    {
        _closing = true;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await SendPacketAsync(new DisconnectPacket { ReasonCode = reason }, timeout.Token);
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        await DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        _closing = true;
        await _stream.DisposeAsync();
        _socket.Dispose();
    }
}

/// <summary>A benchmark failure with a one-line reason.</summary>
public sealed class BenchException(string message) : Exception(message);
