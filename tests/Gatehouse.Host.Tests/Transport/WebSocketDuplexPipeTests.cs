using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using Gatehouse.Transport.WebSockets;

namespace Gatehouse.Host.Tests.Transport;

/// <summary>
/// The WebSocket ↔ pipe adapter on its own: a server-side WebSocket over a real loopback socket wrapped in
/// <see cref="WebSocketDuplexPipe"/>, driven by a client-side WebSocket.
/// </summary>
public sealed class WebSocketDuplexPipeTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private WebSocket _client = null!;
    private WebSocket _server = null!;
    private WebSocketDuplexPipe _pipe = null!;
    private Task _pumps = null!;
    private readonly List<IDisposable> _owned = [];

    public async Task InitializeAsync() => await OpenAsync(new WebSocketDuplexPipeOptions());

    private async Task OpenAsync(WebSocketDuplexPipeOptions options)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var clientTcp = new TcpClient();
        await clientTcp.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        var serverTcp = await listener.AcceptTcpClientAsync();
        _owned.Add(clientTcp);
        _owned.Add(serverTcp);

        _client = WebSocket.CreateFromStream(clientTcp.GetStream(), new WebSocketCreationOptions { IsServer = false });
        _server = WebSocket.CreateFromStream(serverTcp.GetStream(), new WebSocketCreationOptions { IsServer = true });
        _pipe = new WebSocketDuplexPipe(_server, options);
        _pumps = _pipe.RunAsync(CancellationToken.None);
    }

    public async Task DisposeAsync()
    {
        _pipe.CompleteApplication();
        _client.Abort();
        await _pumps.WaitAsync(Timeout);
        _client.Dispose();
        _server.Dispose();
        foreach (var owned in _owned) owned.Dispose();
    }

    private async Task<byte[]> ReadInputAsync(int count)
    {
        using var cts = new CancellationTokenSource(Timeout);
        while (true)
        {
            var result = await _pipe.Input.ReadAsync(cts.Token);
            if (result.Buffer.Length >= count)
            {
                var bytes = result.Buffer.Slice(0, count).ToArray();
                _pipe.Input.AdvanceTo(result.Buffer.GetPosition(count));
                return bytes;
            }
            Assert.False(result.IsCompleted, $"input ended after {result.Buffer.Length} of {count} bytes");
            _pipe.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    private async Task<bool> InputEndsAsync()
    {
        using var cts = new CancellationTokenSource(Timeout);
        while (true)
        {
            var result = await _pipe.Input.ReadAsync(cts.Token);
            _pipe.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) return true;
        }
    }

    /// <summary>Receives one whole message on the client; returns its bytes, type and close status.</summary>
    private async Task<(byte[] Bytes, WebSocketMessageType Type, WebSocketCloseStatus? Status)> ClientReceiveMessageAsync()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var buffer = new ArrayBufferWriter<byte>();
        while (true)
        {
            var result = await _client.ReceiveAsync(buffer.GetMemory(64 * 1024), cts.Token);
            buffer.Advance(result.Count);
            if (result.EndOfMessage || result.MessageType == WebSocketMessageType.Close)
                return (buffer.WrittenSpan.ToArray(), result.MessageType, _client.CloseStatus);
        }
    }

    private Task ClientSendAsync(byte[] bytes, bool endOfMessage = true, WebSocketMessageType type = WebSocketMessageType.Binary)
        => _client.SendAsync(bytes, type, endOfMessage, CancellationToken.None);

    [Fact]
    public async Task Bytes_of_several_frames_arrive_as_one_stream()
    {
        await ClientSendAsync([1, 2]);
        await ClientSendAsync([3]);
        await ClientSendAsync([4, 5, 6]);

        Assert.Equal([1, 2, 3, 4, 5, 6], await ReadInputAsync(6));
    }

    [Fact]
    public async Task A_fragmented_message_arrives_as_one_stream()
    {
        await ClientSendAsync([1, 2], endOfMessage: false);
        await ClientSendAsync([3, 4], endOfMessage: true);

        Assert.Equal([1, 2, 3, 4], await ReadInputAsync(4));
    }

    [Fact]
    public async Task Each_flush_is_sent_as_one_binary_message()
    {
        var large = Enumerable.Range(0, 20_000).Select(i => (byte)i).ToArray(); // spans several pipe segments
        await _pipe.Output.WriteAsync(large);
        var first = await ClientReceiveMessageAsync();
        await _pipe.Output.WriteAsync(new byte[] { 0xD0, 0x00 });
        var second = await ClientReceiveMessageAsync();

        Assert.Equal(WebSocketMessageType.Binary, first.Type);
        Assert.Equal(large, first.Bytes);
        Assert.Equal(WebSocketMessageType.Binary, second.Type);
        Assert.Equal([0xD0, 0x00], second.Bytes);
    }

    [Fact]
    public async Task A_text_frame_ends_the_input_and_closes_with_1003()
    {
        await ClientSendAsync([0x10], type: WebSocketMessageType.Text);

        Assert.True(await InputEndsAsync());
        var close = await ClientReceiveMessageAsync();
        Assert.Equal(WebSocketMessageType.Close, close.Type);
        Assert.Equal(WebSocketCloseStatus.InvalidMessageType, close.Status);

        await _client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await _pumps.WaitAsync(Timeout);
        Assert.Equal(WebSocketCloseStatus.InvalidMessageType, _pipe.SentCloseStatus);
    }

    [Fact]
    public async Task A_close_from_the_peer_ends_the_input_and_is_answered_when_the_application_completes()
    {
        await ClientSendAsync([7]);
        await _client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);

        Assert.Equal([7], await ReadInputAsync(1));
        Assert.True(await InputEndsAsync());

        _pipe.CompleteApplication();
        var close = await ClientReceiveMessageAsync();
        Assert.Equal(WebSocketMessageType.Close, close.Type);
        await _pumps.WaitAsync(Timeout);
        Assert.Equal(WebSocketState.Closed, _server.State);
    }

    [Fact]
    public async Task Completing_the_output_flushes_then_closes_normally()
    {
        await _pipe.Output.WriteAsync(new byte[] { 0xE0, 0x00 });
        await _pipe.Output.CompleteAsync();

        var data = await ClientReceiveMessageAsync();
        var close = await ClientReceiveMessageAsync();
        Assert.Equal([0xE0, 0x00], data.Bytes);
        Assert.Equal(WebSocketMessageType.Close, close.Type);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, close.Status);

        await _client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        await _pumps.WaitAsync(Timeout);
        Assert.True(await InputEndsAsync());
    }

    [Fact]
    public async Task A_peer_that_never_answers_the_close_is_dropped_after_the_close_timeout()
    {
        await DisposeAsync();
        _owned.Clear();
        await OpenAsync(new WebSocketDuplexPipeOptions { CloseTimeout = TimeSpan.FromMilliseconds(200) });

        _pipe.CompleteApplication();

        await _pumps.WaitAsync(Timeout);
        Assert.Equal(WebSocketState.Aborted, _server.State);
    }

    [Fact]
    public async Task The_peer_going_away_ends_the_input()
    {
        _client.Abort();
        foreach (var owned in _owned) owned.Dispose();

        Assert.True(await InputEndsAsync());
    }

    [Fact]
    public async Task Input_beyond_the_buffer_limit_flows_as_the_application_consumes_it()
    {
        await DisposeAsync();
        _owned.Clear();
        await OpenAsync(new WebSocketDuplexPipeOptions { MaxInputBufferSize = 8 * 1024 });

        var payload = Enumerable.Range(0, 64 * 1024).Select(i => (byte)(i * 7)).ToArray();
        var sending = ClientSendAsync(payload);

        var received = new List<byte>();
        using var cts = new CancellationTokenSource(Timeout);
        while (received.Count < payload.Length)
        {
            var result = await _pipe.Input.ReadAsync(cts.Token);
            Assert.True(result.Buffer.Length <= 8 * 1024 + 4096, $"{result.Buffer.Length} bytes buffered");
            received.AddRange(result.Buffer.ToArray());
            _pipe.Input.AdvanceTo(result.Buffer.End);
        }

        Assert.Equal(payload, received);
        await sending.WaitAsync(Timeout);
    }
}
