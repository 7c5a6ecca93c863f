using System.Net.WebSockets;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;

namespace Gatehouse.Host.Tests.Infrastructure;

/// <summary>
/// Exact MQTT bytes over any byte stream (TLS) or WebSocket, for transport tests: the transports must deliver
/// packets unchanged whatever the framing, so the tests send raw bytes and split the replies by the fixed header.
/// </summary>
public static class MqttWire
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    public static readonly byte[] PingReq = [0xC0, 0x00];

    public static byte[] Connect(ProtocolVersion version, string clientId) => MqttTestClient.Encode(
        new ConnectPacket
        {
            ProtocolName = "MQTT",
            ProtocolVersion = version,
            ClientId = clientId,
            CleanStart = true,
            KeepAliveSeconds = 60,
        },
        version);

    /// <summary>CONNACK with Session Present 0 and reason/return code 0 (the properties of a 5.0 CONNACK are not checked).</summary>
    public static void AssertSuccessfulConnAck(byte[] packet)
    {
        Assert.True(packet.Length >= 4, $"not a CONNACK: {MqttTestClient.Hex(packet)}");
        Assert.Equal(0x20, packet[0]);
        Assert.Equal(0x00, packet[2]);
        Assert.Equal(0x00, packet[3]);
    }

    public static void AssertPingResp(byte[] packet) => Assert.Equal([0xD0, 0x00], packet);

    /// <summary>Length of the first complete packet in <paramref name="buffer"/>, or 0 when it is not all there yet.</summary>
    public static int CompletePacketLength(ReadOnlySpan<byte> buffer)
    {
        var length = 0;
        var multiplier = 1;
        for (var i = 1; i < Math.Min(buffer.Length, 5); i++)
        {
            length += (buffer[i] & 0x7F) * multiplier;
            if ((buffer[i] & 0x80) == 0)
                return buffer.Length >= i + 1 + length ? i + 1 + length : 0;
            multiplier *= 128;
        }
        return 0;
    }

    /// <summary>Reads one packet from a stream (TLS).</summary>
    public static async Task<byte[]> ReadPacketAsync(Stream stream)
    {
        using var cts = new CancellationTokenSource(Timeout);
        var buffer = new List<byte>();
        var one = new byte[1];
        while (CompletePacketLength(buffer.ToArray()) == 0)
        {
            var read = await stream.ReadAsync(one, cts.Token);
            if (read == 0)
                throw new EndOfStreamException($"connection closed after {buffer.Count} bytes of a packet");
            buffer.Add(one[0]);
        }
        return [.. buffer];
    }
}

/// <summary>A WebSocket client speaking raw MQTT bytes: any frame layout out, packets split by the fixed header in.</summary>
public sealed class WebSocketMqttClient(WebSocket socket) : IDisposable
{
    private readonly List<byte> _received = [];

    public WebSocket Socket { get; } = socket;

    public WebSocketReceiveResult? CloseResult { get; private set; }

    public Task SendFrameAsync(byte[] bytes, WebSocketMessageType type = WebSocketMessageType.Binary)
        => Socket.SendAsync(bytes, type, endOfMessage: true, CancellationToken.None);

    /// <summary>Sends <paramref name="bytes"/> as several binary frames cut at <paramref name="cuts"/>.</summary>
    public async Task SendSplitAsync(byte[] bytes, params int[] cuts)
    {
        var start = 0;
        foreach (var cut in cuts.Append(bytes.Length))
        {
            await SendFrameAsync(bytes[start..cut]);
            start = cut;
        }
    }

    public async Task<byte[]> ReceivePacketAsync()
    {
        using var cts = new CancellationTokenSource(MqttWire.Timeout);
        var chunk = new byte[4096];
        while (true)
        {
            var length = MqttWire.CompletePacketLength(_received.ToArray());
            if (length > 0)
            {
                var packet = _received.GetRange(0, length).ToArray();
                _received.RemoveRange(0, length);
                return packet;
            }
            var result = await Socket.ReceiveAsync(chunk, cts.Token);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                CloseResult = result;
                throw new EndOfStreamException($"WebSocket closed ({result.CloseStatus} {result.CloseStatusDescription})");
            }
            Assert.Equal(WebSocketMessageType.Binary, result.MessageType);
            _received.AddRange(chunk.AsSpan(0, result.Count));
        }
    }

    /// <summary>Reads until the server's close frame and returns it.</summary>
    public async Task<WebSocketReceiveResult> ReceiveCloseAsync()
    {
        using var cts = new CancellationTokenSource(MqttWire.Timeout);
        var chunk = new byte[4096];
        while (true)
        {
            var result = await Socket.ReceiveAsync(chunk, cts.Token);
            if (result.MessageType == WebSocketMessageType.Close)
                return CloseResult = result;
        }
    }

    public void Dispose() => Socket.Dispose();
}
