using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;

namespace Gatehouse.Transport.Sockets;

/// <summary>
/// The write side of a <see cref="SocketConnection"/>: a <see cref="PipeWriter"/> over one pooled buffer that a flush
/// sends with a single non-blocking <c>send</c> on the flushing thread. Only what the socket cannot take at once
/// waits, for the <see cref="ReadinessLoop"/> to report the socket writable. The buffer goes back to the pool after
/// every flush, so an idle connection holds none.
/// </summary>
internal sealed class SocketOutput : PipeWriter
{
    private const int MinimumBuffer = 4 * 1024;

    private readonly SocketConnection _connection;
    private byte[]? _buffer;
    // The flush waiting for the socket to become writable; null when none is (the common case).
    private TaskCompletionSource? _writable;
    private int _flushCanceled;
    private int _written;
    private bool _failed;
    private bool _completed;

    public SocketOutput(SocketConnection connection) => _connection = connection;

    public override void Advance(int bytes)
    {
        if ((uint)bytes > (uint)(_buffer?.Length - _written ?? 0)) throw new ArgumentOutOfRangeException(nameof(bytes));
        _written += bytes;
    }

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        EnsureSpace(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public override Span<byte> GetSpan(int sizeHint = 0)
    {
        EnsureSpace(sizeHint);
        return _buffer.AsSpan(_written);
    }

    public override bool CanGetUnflushedBytes => true;
    public override long UnflushedBytes => _written;

    /// <summary>
    /// Ends the flush waiting for a peer that does not read (or, if none waits, the next one) with
    /// <see cref="FlushResult.IsCanceled"/>, as a pipe's writer does: the broker gives up on a connection it is closing.
    /// </summary>
    public override void CancelPendingFlush()
    {
        Volatile.Write(ref _flushCanceled, 1);
        OnWritable();
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_failed) return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: true));
        if (Interlocked.Exchange(ref _flushCanceled, 0) != 0) return new ValueTask<FlushResult>(new FlushResult(isCanceled: true, isCompleted: false));
        if (_written == 0) return default;
        var sent = NonBlockingIo.Send(_connection.Handle, _buffer.AsSpan(0, _written), out var error);
        if (error == SocketError.Success && sent == _written)
        {
            ReleaseBuffer();
            return default;
        }
        if (error is not (SocketError.Success or SocketError.WouldBlock)) throw Fail(new SocketException((int)error));
        // The socket's send buffer is full (a slow reader): the rest goes when it drains.
        return SendRestAsync(error == SocketError.Success ? sent : 0, cancellationToken);
    }

    public override void Complete(Exception? exception = null)
    {
        if (_completed) return;
        _completed = true;
        ReleaseBuffer();
        _connection.OnOutputCompleted();
    }

    /// <summary>The readiness loop saw the socket writable (or failed): the waiting flush sends again.</summary>
    public void OnWritable() => Interlocked.Exchange(ref _writable, null)?.TrySetResult();

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
                _buffer.AsSpan(offset, _written - offset).CopyTo(_buffer);
                _written -= offset;
                throw;
            }
            catch (SocketException ex)
            {
                throw Fail(ex);
            }
            if (Interlocked.Exchange(ref _flushCanceled, 0) != 0)
            {
                // Given up on (CancelPendingFlush): what was not sent stays unflushed, in order.
                _buffer.AsSpan(offset, _written - offset).CopyTo(_buffer);
                _written -= offset;
                return new FlushResult(isCanceled: true, isCompleted: false);
            }
            offset += NonBlockingIo.Send(_connection.Handle, _buffer.AsSpan(offset, _written - offset), out var error);
            if (error is not (SocketError.Success or SocketError.WouldBlock)) throw Fail(new SocketException((int)error));
        }
        ReleaseBuffer();
        return default;
    }

    private Task WritableAsync(CancellationToken cancellationToken)
    {
        // Continuations run on the thread pool: the flusher's work must not hold up the readiness loop's other sockets.
        var writable = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _writable, writable);
        // Published before asking, so a report cannot come in between and be missed; a report meant for an earlier
        // wait only makes the send after it try once more.
        _connection.WatchWritable();
        return writable.Task.WaitAsync(cancellationToken);
    }

    private IOException Fail(SocketException error)
    {
        _failed = true;
        ReleaseBuffer();
        return new IOException(error.Message, error);
    }

    private void EnsureSpace(int sizeHint)
    {
        if (_completed) throw new InvalidOperationException("Writing is not allowed after the writer was completed.");
        var needed = Math.Max(sizeHint, 1);
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(needed, MinimumBuffer));
            return;
        }
        if (_buffer.Length - _written >= needed) return;
        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _written + needed));
        _buffer.AsSpan(0, _written).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = larger;
    }

    private void ReleaseBuffer()
    {
        _written = 0;
        if (_buffer is not { } buffer) return;
        _buffer = null;
        ArrayPool<byte>.Shared.Return(buffer);
    }
}
