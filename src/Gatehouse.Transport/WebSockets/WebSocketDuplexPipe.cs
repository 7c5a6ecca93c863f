using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;

namespace Gatehouse.Transport.WebSockets;

/// <summary>
/// Presents a WebSocket as the byte stream MQTT expects ([MQTT-6.0.0-*]): frame boundaries carry no meaning, so a
/// packet split over several frames, or several packets in one frame, just work.
/// </summary>
/// <remarks>
/// Two pumps run in <see cref="RunAsync"/>: the receive pump copies the payload of binary frames into
/// <see cref="Input"/>; the send pump takes everything the application flushed to <see cref="Output"/> and sends it
/// as one binary frame per read batch. Only the send pump ever sends (WebSocket allows one sender at a time), so the
/// close frame — 1000 normally, 1003 after a text frame [MQTT-6.0.0-1] — is sent by it as well.
/// </remarks>
public sealed class WebSocketDuplexPipe : IDuplexPipe
{
    private const int MinimumReceiveSize = 4096;

    private readonly WebSocket _socket;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly TimeSpan _closeTimeout;
    private volatile bool _closeRequested;
    private WebSocketCloseStatus _closeStatus = WebSocketCloseStatus.NormalClosure;
    private string? _closeDescription;

    public WebSocketDuplexPipe(WebSocket socket, WebSocketDuplexPipeOptions? options = null)
    {
        options ??= new WebSocketDuplexPipeOptions();
        _socket = socket;
        _closeTimeout = options.CloseTimeout;

        // The application may need a whole packet buffered before it consumes anything, so the input may hold
        // up to MaxInputBufferSize unconsumed bytes before the receive pump stops reading from the socket.
        var pause = Math.Max(options.MaxInputBufferSize, MinimumReceiveSize);
        _input = new Pipe(new PipeOptions(
            pauseWriterThreshold: pause,
            resumeWriterThreshold: pause / 2,
            useSynchronizationContext: false));
        _output = new Pipe(new PipeOptions(
            pauseWriterThreshold: options.MaxOutputBufferSize,
            resumeWriterThreshold: options.MaxOutputBufferSize / 2,
            useSynchronizationContext: false));
    }

    /// <summary>Bytes received from the peer.</summary>
    public PipeReader Input => _input.Reader;

    /// <summary>Bytes to send to the peer; each flush becomes (at most) one binary frame.</summary>
    public PipeWriter Output => _output.Writer;

    /// <summary>The close status sent to the peer, once the send pump has sent a close frame.</summary>
    public WebSocketCloseStatus? SentCloseStatus { get; private set; }

    /// <summary>
    /// Runs both pumps. Completes when the application has completed <see cref="Output"/> (or the socket failed),
    /// the close frame went out, and the peer answered it or <see cref="WebSocketDuplexPipeOptions.CloseTimeout"/>
    /// passed. <see cref="Input"/> ends (without an error) when the peer closes, sends a text frame, or goes away.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var receiving = ReceiveLoopAsync(cancellationToken);
        await SendLoopAsync(cancellationToken);

        if (!receiving.IsCompleted)
        {
            // We sent our close frame (or could not); give the peer a moment to answer before dropping it.
            try
            {
                await receiving.WaitAsync(_closeTimeout, cancellationToken);
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
            {
                _socket.Abort();
            }
        }
        await receiving;
    }

    /// <summary>Completes the application's ends of both pipes, e.g. when the application is done with the connection.</summary>
    public void CompleteApplication()
    {
        _input.Reader.Complete();
        _output.Writer.Complete();
    }

    private async Task ReceiveLoopAsync(CancellationToken cancellationToken)
    {
        var writer = _input.Writer;
        var delivering = true;
        byte[]? discard = null;
        try
        {
            while (true)
            {
                Memory<byte> memory = delivering
                    ? writer.GetMemory(MinimumReceiveSize)
                    : discard ??= new byte[MinimumReceiveSize];
                var result = await _socket.ReceiveAsync(memory, cancellationToken);

                if (result.MessageType == WebSocketMessageType.Close)
                    break;

                if (result.MessageType == WebSocketMessageType.Text)
                {
                    // [MQTT-6.0.0-1] MQTT control packets travel in binary frames only.
                    RequestClose(WebSocketCloseStatus.InvalidMessageType, "MQTT over WebSocket uses binary frames");
                    if (delivering)
                    {
                        delivering = false;
                        await writer.CompleteAsync();
                    }
                    continue; // keep reading until the peer answers our close frame
                }

                if (!delivering)
                    continue;

                writer.Advance(result.Count);
                var flush = await writer.FlushAsync(cancellationToken);
                if (flush.IsCompleted)
                {
                    // The application stopped reading; drain frames until the close handshake ends.
                    delivering = false;
                    await writer.CompleteAsync();
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // Peer vanished or we aborted; for the application that is the end of the stream.
        }
        finally
        {
            if (delivering)
                await writer.CompleteAsync();
        }
    }

    private async Task SendLoopAsync(CancellationToken cancellationToken)
    {
        var reader = _output.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(cancellationToken);
                if (result.IsCanceled && _closeRequested)
                {
                    reader.AdvanceTo(result.Buffer.End);
                    break;
                }

                var buffer = result.Buffer;
                if (!buffer.IsEmpty)
                    await SendFrameAsync(buffer, cancellationToken);
                reader.AdvanceTo(buffer.End);

                if (result.IsCompleted || _closeRequested)
                    break;
            }

            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                SentCloseStatus = _closeStatus;
                await _socket.CloseOutputAsync(_closeStatus, _closeDescription, cancellationToken);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            _socket.Abort();
        }
        finally
        {
            // Without an error: the application sees IsCompleted on its next flush and ends the connection.
            await reader.CompleteAsync();
        }
    }

    private async ValueTask SendFrameAsync(ReadOnlySequence<byte> buffer, CancellationToken cancellationToken)
    {
        if (buffer.IsSingleSegment)
        {
            await _socket.SendAsync(buffer.First, WebSocketMessageType.Binary, endOfMessage: true, cancellationToken);
            return;
        }

        // One frame per batch: gather the segments (a Pipe hands out 4 KiB segments).
        var length = checked((int)buffer.Length);
        var rented = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            buffer.CopyTo(rented);
            await _socket.SendAsync(rented.AsMemory(0, length), WebSocketMessageType.Binary, endOfMessage: true, cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    private void RequestClose(WebSocketCloseStatus status, string description)
    {
        if (_closeRequested)
            return;
        _closeStatus = status;
        _closeDescription = description;
        _closeRequested = true;
        _output.Reader.CancelPendingRead();
    }
}

public sealed class WebSocketDuplexPipeOptions
{
    /// <summary>Unconsumed received bytes held before the receive pump stops reading; must exceed the largest packet.</summary>
    public long MaxInputBufferSize { get; set; } = 1024 * 1024 + 64 * 1024;

    /// <summary>Unsent bytes the application may write before its flush waits.</summary>
    public long MaxOutputBufferSize { get; set; } = 64 * 1024;

    /// <summary>How long to wait for the peer's close frame after sending ours.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
