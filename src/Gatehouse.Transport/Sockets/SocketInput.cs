using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace Gatehouse.Transport.Sockets;

/// <summary>
/// The read side of a <see cref="SocketConnection"/>: a <see cref="PipeReader"/> that receives straight into one pooled
/// buffer. An idle connection holds no buffer at all: when nothing is readable the buffer goes back to the pool and the
/// reader waits with a zero-byte receive, which the runtime turns into a readiness wait on its epoll thread. When the
/// socket becomes readable the waiting read loop continues on the thread that saw it, with no pipe in between.
/// </summary>
internal sealed class SocketInput : PipeReader, IValueTaskSource<ReadResult>
{
    private const int MinimumReceive = 8 * 1024;

    private readonly SocketConnection _connection;
    private readonly Socket _socket;
    private readonly int _maxBufferSize;
    private readonly Action _onReadable;
    private readonly Lock _sync = new();

    // Unconsumed bytes are _buffer[_start.._end); _examinedAll says the reader needs more than that before it can go on.
    private byte[]? _buffer;
    private int _start;
    private int _end;
    private bool _examinedAll;
    private bool _endOfStream;
    private Exception? _error;
    private bool _completed;

    // One read may wait at a time; the readiness probe may outlive a cancelled wait and is then reused.
    private ManualResetValueTaskSourceCore<ReadResult> _wait;
    private bool _waiting;
    private bool _cancelRequested;
    private CancellationToken _waitToken;
    private CancellationTokenRegistration _waitCancellation;
    private ValueTask<int> _probe;
    private bool _probePending;

    public SocketInput(SocketConnection connection, Socket socket, int maxBufferSize)
    {
        _connection = connection;
        _socket = socket;
        _maxBufferSize = maxBufferSize;
        _onReadable = OnReadable;
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (TryRead(out var result)) return new ValueTask<ReadResult>(result);
        cancellationToken.ThrowIfCancellationRequested();
        // Nothing buffered and nothing readable right now: wait for readiness without holding a buffer.
        ReleaseBufferIfEmpty();
        bool startProbe;
        lock (_sync)
        {
            if (_cancelRequested)
            {
                _cancelRequested = false;
                return new ValueTask<ReadResult>(new ReadResult(Buffered(), isCanceled: true, isCompleted: false));
            }
            _wait.Reset();
            _waiting = true;
            startProbe = !_probePending;
            _probePending = true;
        }
        var version = _wait.Version;
        _waitToken = cancellationToken;
        RegisterWaitCancellation();
        if (startProbe) StartProbe();
        return new ValueTask<ReadResult>(this, version);
    }

    public override bool TryRead(out ReadResult result)
    {
        if (_completed) throw new InvalidOperationException("Reading is not allowed after the reader was completed.");
        lock (_sync)
        {
            if (_cancelRequested)
            {
                _cancelRequested = false;
                result = new ReadResult(Buffered(), isCanceled: true, isCompleted: false);
                return true;
            }
        }
        if (!_examinedAll && _end > _start || _endOfStream || _error is not null || Receive())
        {
            result = Result();
            return true;
        }
        result = default;
        return false;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        if (_buffer is null) return;
        // Positions in a sequence over one array carry the index into that array.
        var consumedIndex = consumed.GetObject() == _buffer ? consumed.GetInteger() : _start;
        var examinedIndex = examined.GetObject() == _buffer ? examined.GetInteger() : _start;
        if (consumedIndex < _start || consumedIndex > _end || examinedIndex < consumedIndex) throw new ArgumentOutOfRangeException(nameof(consumed));
        _start = consumedIndex;
        _examinedAll = examinedIndex >= _end;
        if (_start == _end)
        {
            _start = _end = 0;
            _examinedAll = false;
        }
    }

    public override void CancelPendingRead()
    {
        if (!CompleteWait(canceled: true, error: null))
        {
            lock (_sync) _cancelRequested = true;
        }
    }

    public override void Complete(Exception? exception = null)
    {
        if (_completed) return;
        _completed = true;
        lock (_sync)
        {
            if (_buffer is { } buffer)
            {
                _buffer = null;
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        _connection.OnInputCompleted();
    }

    private ReadOnlySequence<byte> Buffered()
        => _buffer is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(_buffer, _start, _end - _start);

    private ReadResult Result()
    {
        if (_error is { } error && _end == _start) throw new IOException(error.Message, error);
        return new ReadResult(Buffered(), isCanceled: false, isCompleted: _endOfStream);
    }

    /// <summary>Receives what the socket has without blocking. False when nothing is readable (would block).</summary>
    private bool Receive()
    {
        EnsureSpace();
        var received = _socket.Receive(_buffer.AsSpan(_end), SocketFlags.None, out var error);
        switch (error)
        {
            case SocketError.Success when received == 0:
                _endOfStream = true;
                return true;
            case SocketError.Success:
                _end += received;
                _examinedAll = false;
                return true;
            case SocketError.WouldBlock:
                return false;
            default:
                _error = new SocketException((int)error);
                return true;
        }
    }

    private void EnsureSpace()
    {
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(MinimumReceive);
            return;
        }
        if (_end < _buffer.Length) return;
        var length = _end - _start;
        if (_start > 0 && length < _buffer.Length / 2)
        {
            // Room at the front: move the partial packet there rather than growing.
            _buffer.AsSpan(_start, length).CopyTo(_buffer);
        }
        else
        {
            // A packet larger than the buffer: grow, bounded by the largest packet the broker accepts.
            if (_buffer.Length >= _maxBufferSize) throw new IOException($"input buffer limit of {_maxBufferSize} bytes reached");
            var larger = ArrayPool<byte>.Shared.Rent(Math.Min(_maxBufferSize, _buffer.Length * 2));
            _buffer.AsSpan(_start, length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }
        _start = 0;
        _end = length;
    }

    private void ReleaseBufferIfEmpty()
    {
        if (_buffer is null || _end != _start) return;
        lock (_sync)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
            _start = _end = 0;
        }
    }

    // The probe is kept in a field across its completion callback and consumed exactly once, in OnReadable.
#pragma warning disable CA2012
    private void StartProbe()
    {
        try
        {
            _probe = _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            _probe = ValueTask.FromException<int>(ex);
        }
        if (_probe.IsCompleted) OnReadable();
        else _probe.GetAwaiter().UnsafeOnCompleted(_onReadable);
    }
#pragma warning restore CA2012

    /// <summary>The zero-byte receive completed: the socket is readable, at its end, or failed.</summary>
    private void OnReadable()
    {
        Exception? failure = null;
        try
        {
            _probe.GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            failure = ex;
        }
        _probe = default;
        lock (_sync)
        {
            _probePending = false;
            // No read waiting: it was cancelled, and the next read receives directly.
            if (!ClaimWait()) return;
        }
        if (failure is not null)
        {
            if (!_completed) _error ??= failure;
        }
        else if (!_completed && !Receive())
        {
            // Readiness without data (a spurious wake-up): wait again, unless a cancellation came in meanwhile.
            bool rearmed;
            lock (_sync)
            {
                rearmed = !_cancelRequested;
                _cancelRequested = false;
                _waiting = rearmed;
                _probePending = rearmed;
            }
            if (rearmed)
            {
                RegisterWaitCancellation();
                StartProbe();
            }
            else FinishWait(canceled: true, error: null);
            return;
        }
        FinishWait(canceled: false, error: null);
    }

    private void RegisterWaitCancellation()
    {
        if (!_waitToken.CanBeCanceled) return;
        _waitCancellation = _waitToken.UnsafeRegister(static (state, token) =>
            ((SocketInput)state!).CompleteWait(canceled: false, new OperationCanceledException(token)), this);
    }

    /// <summary>Takes the waiting read for completion (under <see cref="_sync"/>); false when none is waiting.</summary>
    private bool ClaimWait()
    {
        if (!_waiting) return false;
        _waiting = false;
        _waitCancellation.Unregister();
        _waitCancellation = default;
        return true;
    }

    /// <summary>Completes a waiting read with a cancellation or an error; false when no read was waiting.</summary>
    private bool CompleteWait(bool canceled, Exception? error)
    {
        lock (_sync)
        {
            if (!ClaimWait()) return false;
        }
        FinishWait(canceled, error);
        return true;
    }

    private void FinishWait(bool canceled, Exception? error)
    {
        if (error is not null)
        {
            _wait.SetException(error);
        }
        else if (canceled)
        {
            // Not inline: the canceller (a close, a timer) must not run the rest of the read loop on its own stack.
            ThreadPool.UnsafeQueueUserWorkItem(static input =>
                input._wait.SetResult(new ReadResult(input.Buffered(), isCanceled: true, isCompleted: false)), this, preferLocal: false);
        }
        else
        {
            try
            {
                _wait.SetResult(Result());
            }
            catch (Exception ex)
            {
                _wait.SetException(ex);
            }
        }
    }

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => _wait.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _wait.GetStatus(token);
    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token,
        ValueTaskSourceOnCompletedFlags flags) => _wait.OnCompleted(continuation, state, token, flags);
}
