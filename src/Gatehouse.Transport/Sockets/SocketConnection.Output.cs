using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Gatehouse.Broker.Connections;

namespace Gatehouse.Transport.Sockets;

/// <summary>
/// The write side of a <see cref="SocketConnection"/>, its <see cref="Gatehouse.Broker.Connections.IConnectionOutput"/>:
/// one pooled buffer that a flush sends with a single non-blocking <c>send</c> on the flushing thread. Only what the
/// socket cannot take at once waits, for the <see cref="ReadinessLoop"/> to report the socket writable. The buffer goes
/// back to the pool after every flush, so an idle connection holds none. Part of the connection rather than a
/// <see cref="PipeWriter"/> of its own: that object (header, back reference, the writer's stream field) cost every
/// connection 40 bytes.
/// </summary>
internal sealed partial class SocketConnection
{
    private const int MinimumBuffer = 4 * 1024;

    private byte[]? _outputBuffer;
    // The flush waiting for the socket to become writable; null when none is (the common case).
    private TaskCompletionSource? _writable;
    // A byte: with an int here the connection's fields spill into one more 8-byte word.
    private byte _flushCanceled;
    private int _written;
    private bool _outputFailed;
    private bool _outputCompleted;

    public void Advance(int bytes)
    {
        if ((uint)bytes > (uint)(_outputBuffer?.Length - _written ?? 0)) throw new ArgumentOutOfRangeException(nameof(bytes));
        _written += bytes;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        EnsureOutputSpace(sizeHint);
        return _outputBuffer.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        EnsureOutputSpace(sizeHint);
        return _outputBuffer.AsSpan(_written);
    }

    /// <summary>
    /// Ends the flush waiting for a peer that does not read (or, if none waits, the next one) with
    /// <see cref="FlushResult.IsCanceled"/>, as a pipe's writer does: the broker gives up on a connection it is closing.
    /// </summary>
    public void CancelPendingFlush()
    {
        Volatile.Write(ref _flushCanceled, (byte)1);
        OnWritable();
    }

    public ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_outputFailed) return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: true));
        if (Interlocked.Exchange(ref _flushCanceled, (byte)0) != 0) return new ValueTask<FlushResult>(new FlushResult(isCanceled: true, isCompleted: false));
        if (_written == 0) return default;
        var sent = NonBlockingIo.Send(this, _outputBuffer.AsSpan(0, _written), out var error);
        if (error == SocketError.Success && sent == _written)
        {
            ReleaseOutputBuffer();
            return default;
        }
        if (error is not (SocketError.Success or SocketError.WouldBlock)) throw FailOutput(new SocketException((int)error));
        // The socket's send buffer is full (a slow reader): the rest goes when it drains.
        return SendRestAsync(error == SocketError.Success ? sent : 0, cancellationToken);
    }

    public void CompleteOutput()
    {
        if (_outputCompleted) return;
        _outputCompleted = true;
        ReleaseOutputBuffer();
        OnOutputCompleted();
    }

    /// <summary>The readiness loop saw the socket writable (or failed): the waiting flush sends again.</summary>
    private void OnWritable() => Interlocked.Exchange(ref _writable, null)?.TrySetResult();

    private async ValueTask<FlushResult> SendRestAsync(int offset, CancellationToken cancellationToken)
    {
        while (offset < _written)
        {
            try
            {
                await WritableAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // What was not sent stays unflushed, in order, for the next flush.
                _outputBuffer.AsSpan(offset, _written - offset).CopyTo(_outputBuffer);
                _written -= offset;
                throw;
            }
            catch (SocketException ex)
            {
                throw FailOutput(ex);
            }
            if (Interlocked.Exchange(ref _flushCanceled, (byte)0) != 0)
            {
                // Given up on (CancelPendingFlush): what was not sent stays unflushed, in order.
                _outputBuffer.AsSpan(offset, _written - offset).CopyTo(_outputBuffer);
                _written -= offset;
                return new FlushResult(isCanceled: true, isCompleted: false);
            }
            offset += NonBlockingIo.Send(this, _outputBuffer.AsSpan(offset, _written - offset), out var error);
            if (error is not (SocketError.Success or SocketError.WouldBlock)) throw FailOutput(new SocketException((int)error));
        }
        ReleaseOutputBuffer();
        return default;
    }

    private Task WritableAsync(CancellationToken cancellationToken)
    {
        // Continuations run on the thread pool: the flusher's work must not hold up the readiness loop's other sockets.
        var writable = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _writable, writable);
        // Published before asking, so a report cannot come in between and be missed; a report meant for an earlier
        // wait only makes the send after it try once more.
        WatchWritable();
        return writable.Task.WaitAsync(cancellationToken);
    }

    private IOException FailOutput(SocketException error)
    {
        _outputFailed = true;
        ReleaseOutputBuffer();
        return new IOException(error.Message, error);
    }

    private void EnsureOutputSpace(int sizeHint)
    {
        if (_outputCompleted) throw new InvalidOperationException("Writing is not allowed after the writer was completed.");
        var needed = Math.Max(sizeHint, 1);
        if (_outputBuffer is null)
        {
            _outputBuffer = ArrayPool<byte>.Shared.Rent(Math.Max(needed, MinimumBuffer));
            return;
        }
        if (_outputBuffer.Length - _written >= needed) return;
        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_outputBuffer.Length * 2, _written + needed));
        _outputBuffer.AsSpan(0, _written).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(_outputBuffer);
        _outputBuffer = larger;
    }

    private void ReleaseOutputBuffer()
    {
        _written = 0;
        if (_outputBuffer is not { } buffer) return;
        _outputBuffer = null;
        ArrayPool<byte>.Shared.Return(buffer);
    }

    ValueTask<FlushResult> IConnectionOutput.FlushAsync() => FlushAsync(CancellationToken.None);

    ValueTask IConnectionOutput.CompleteAsync()
    {
        CompleteOutput();
        return default;
    }

    /// <summary>
    /// The output as a <see cref="PipeWriter"/>, for a caller that wants one (the broker writes through
    /// <see cref="IConnectionOutput"/> and never asks): made on each call, so no connection holds one.
    /// </summary>
    private sealed class OutputView(SocketConnection connection) : PipeWriter
    {
        public override void Advance(int bytes) => connection.Advance(bytes);
        public override Memory<byte> GetMemory(int sizeHint = 0) => connection.GetMemory(sizeHint);
        public override Span<byte> GetSpan(int sizeHint = 0) => connection.GetSpan(sizeHint);
        public override bool CanGetUnflushedBytes => true;
        public override long UnflushedBytes => connection._written;
        public override void CancelPendingFlush() => connection.CancelPendingFlush();
        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => connection.FlushAsync(cancellationToken);
        public override void Complete(Exception? exception = null) => connection.CompleteOutput();
    }
}
