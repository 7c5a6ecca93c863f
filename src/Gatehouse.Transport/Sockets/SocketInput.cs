using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;
using Gatehouse.Broker.Connections;

namespace Gatehouse.Transport.Sockets;

/// <summary>
/// The read side of a <see cref="SocketConnection"/>: a <see cref="PipeReader"/> that receives straight into one pooled
/// buffer. An idle connection holds no buffer at all: when nothing is readable the buffer goes back to the pool and the
/// read waits for the <see cref="ReadinessLoop"/> to report the socket readable; the read loop then continues on that
/// loop's thread, with no pipe and no thread hand-off in between.
/// <para>
/// <see cref="SocketConnection"/> derives from it: the reader is part of every connection, and as an object of its own
/// it cost each one a header and two references (32 bytes). What it needs of the connection is abstract here.
/// </para>
/// </summary>
internal abstract class SocketInput : PipeReader, IValueTaskSource<ReadResult>, ICallbackReader
{
    private const int MinimumReceive = 8 * 1024;

    // Who owns the next step: the reader (Idle), a waiting read (Waiting: whoever moves it back to Idle completes the
    // wait), or a readiness report that came while no read was waiting (Signaled: the next read receives again).
    private const int Idle = 0;
    private const int Waiting = 1;
    private const int Signaled = 2;

    // Unconsumed bytes are _buffer[_start.._end); _examinedAll says the reader needs more than that before it can go on.
    // Only the side that owns the reader's turn (the reader, or whoever completes its wait) touches these.
    private byte[]? _buffer;
    private int _start;
    private int _end;
    private bool _examinedAll;
    // The last receive found the socket empty (EAGAIN, or fewer bytes than it had room for): until readiness is reported
    // again another receive would only say EAGAIN, so a read waits at once. Edge-triggered epoll reports whatever arrives
    // after that receive. Saves a system call per received batch when the peer waits for our answer (CONNECT, PINGREQ).
    private bool _drained;
    private bool _endOfStream;
    private Exception? _error;
    private bool _completed;

    // A waiting read. Its result is only "canceled or not": the ReadResult is made from the buffer when the reader
    // takes it (the buffer belongs to the reader's turn from the completion on), so the wait does not carry a 32-byte
    // ReadResult through every idle connection's life.
    private ManualResetValueTaskSourceCore<bool> _wait;
    private int _state;
    private int _cancelRequested;
    // Only a read given a cancelable token (the linger drain) needs this; other connections never create it.
    private WaitCancellation? _cancellation;

    /// <summary>The connection's descriptor, received from.</summary>
    internal abstract SocketFileHandle Handle { get; }

    /// <summary>The largest the receive buffer may grow (the largest packet the broker accepts).</summary>
    internal abstract int MaxInputBufferSize { get; }

    /// <summary>The reader was completed: the connection closes once its writer is too.</summary>
    private protected abstract void OnInputCompleted();

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        while (true)
        {
            if (TryRead(out var result)) return new ValueTask<ReadResult>(result);
            cancellationToken.ThrowIfCancellationRequested();
            // Nothing buffered and nothing readable right now: wait for readiness without holding a buffer.
            ReleaseBufferIfEmpty();
            _wait.Reset();
            if (cancellationToken.CanBeCanceled) (_cancellation ??= new WaitCancellation()).Token = cancellationToken;
            else if (_cancellation is not null) _cancellation.Token = default;
            if (Interlocked.CompareExchange(ref _state, Waiting, Idle) == Signaled)
            {
                // Readiness was reported after the receive above found nothing: receive again.
                _drained = false;
                Volatile.Write(ref _state, Idle);
                continue;
            }
            var version = _wait.Version;
            RegisterWaitCancellation();
            // A CancelPendingRead that came between the check in TryRead and the wait: honour it now.
            if (Volatile.Read(ref _cancelRequested) != 0 && ClaimWait()) FinishCanceled();
            return new ValueTask<ReadResult>(this, version);
        }
    }

    /// <summary>A read whose completion calls <paramref name="completed"/> rather than an awaiter (see <see cref="ICallbackReader"/>).</summary>
    public bool TryStartRead(out ReadResult result, Action<object?> completed, object state)
    {
        var read = ReadAsync(CancellationToken.None);
        if (read.IsCompleted)
        {
            result = read.Result;
            return true;
        }
        // Registered as an awaiter with ConfigureAwait(false) would be: called where the wait completes, no context.
        _wait.OnCompleted(completed, state, _wait.Version, ValueTaskSourceOnCompletedFlags.None);
        result = default;
        return false;
    }

    public ReadResult GetCompletedRead() => CompletedRead(_wait.Version);

    /// <summary>The result of the completed wait <paramref name="token"/>: throws what it failed with, else what is buffered.</summary>
    private ReadResult CompletedRead(short token) => _wait.GetResult(token)
        ? new ReadResult(Buffered(), isCanceled: true, isCompleted: false)
        : Result();

    public override bool TryRead(out ReadResult result)
    {
        if (_completed) throw new InvalidOperationException("Reading is not allowed after the reader was completed.");
        if (Interlocked.Exchange(ref _cancelRequested, 0) != 0)
        {
            result = new ReadResult(Buffered(), isCanceled: true, isCompleted: false);
            return true;
        }
        if (!_examinedAll && _end > _start || _endOfStream || _error is not null || !_drained && Receive())
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
            // Everything was consumed: a buffer of the usual size goes back to the pool now, not at the next read. A
            // connection whose packet is still being handled (a CONNECT waiting for its session to be stored) does not
            // read meanwhile, and a connect burst's waiting connections each held one, more than the pool keeps. A buffer
            // grown for large packets stays until the socket is drained, so a stream of them is not grown again each time.
            if (_buffer.Length <= MinimumReceive)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = null;
            }
        }
    }

    public override void CancelPendingRead()
    {
        Volatile.Write(ref _cancelRequested, 1);
        if (ClaimWait()) FinishCanceled();
    }

    public override void Complete(Exception? exception = null)
    {
        if (_completed) return;
        _completed = true;
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }
        OnInputCompleted();
    }

    /// <summary>
    /// The readiness loop saw the socket readable (or closed, or failed). Completes a waiting read on this thread, so the
    /// read loop runs here; otherwise leaves a note for the next read.
    /// </summary>
    public void OnReadable()
    {
        while (true)
        {
            var state = Volatile.Read(ref _state);
            if (state == Signaled) return;
            if (state == Idle)
            {
                if (Interlocked.CompareExchange(ref _state, Signaled, Idle) == Idle) return;
                continue;
            }
            if (ClaimWait()) break;
        }
        if (_completed) return;
        bool received;
        try
        {
            received = Receive();
        }
        catch (Exception ex)
        {
            // The waiting read fails with it (the input buffer limit was reached): it must not wait forever.
            _wait.SetException(ex);
            return;
        }
        if (!received)
        {
            // Reported for bytes an earlier receive already took: wait again. Edge-triggered reports come from this
            // thread only, so none can slip in before the wait is re-armed.
            Volatile.Write(ref _state, Waiting);
            RegisterWaitCancellation();
            if (Volatile.Read(ref _cancelRequested) != 0 && ClaimWait()) FinishCanceled();
            return;
        }
        // Not canceled; the reader makes the ReadResult (or meets the socket's error) from the buffer when it takes it.
        _wait.SetResult(false);
    }

    /// <summary>
    /// A read's token cancels its wait. Registered once the wait is published; the broker passes a fresh token per read
    /// (the linger drain) or none, so a registration outliving its wait never meets a later one.
    /// </summary>
    private void RegisterWaitCancellation()
    {
        if (_cancellation is not { Token.CanBeCanceled: true } cancellation) return;
        cancellation.Registration = cancellation.Token.UnsafeRegister(static (state, token) =>
        {
            var input = (SocketInput)state!;
            if (input.ClaimWait()) input._wait.SetException(new OperationCanceledException(token));
        }, this);
    }

    /// <summary>Takes a waiting read for completion; false when no read is waiting (or someone else took it).</summary>
    private bool ClaimWait()
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Waiting) != Waiting) return false;
        if (_cancellation is { } cancellation)
        {
            cancellation.Registration.Unregister();
            cancellation.Registration = default;
        }
        return true;
    }

    private void FinishCanceled()
    {
        Volatile.Write(ref _cancelRequested, 0);
        // Not inline: the canceller (a close, a timer) must not run the rest of the read loop on its own stack.
        ThreadPool.UnsafeQueueUserWorkItem(static input =>
            input._wait.SetResult(true), this, preferLocal: false);
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
        var room = _buffer.Length - _end;
        var received = NonBlockingIo.Receive(Handle, _buffer.AsSpan(_end, room), out var error);
        switch (error)
        {
            case SocketError.Success when received == 0:
                _endOfStream = true;
                return true;
            case SocketError.Success:
                _end += received;
                _examinedAll = false;
                _drained = received < room;
                return true;
            case SocketError.WouldBlock:
                _drained = true;
                return false;
            default:
                _error = new SocketException((int)error);
                return true;
        }
    }

    [MemberNotNull(nameof(_buffer))]
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
            var maxBufferSize = MaxInputBufferSize;
            if (_buffer.Length >= maxBufferSize) throw new IOException($"input buffer limit of {maxBufferSize} bytes reached");
            var larger = ArrayPool<byte>.Shared.Rent(Math.Min(maxBufferSize, _buffer.Length * 2));
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
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = null;
        _start = _end = 0;
    }

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => CompletedRead(token);
    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _wait.GetStatus(token);
    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token,
        ValueTaskSourceOnCompletedFlags flags) => _wait.OnCompleted(continuation, state, token, flags);

    /// <summary>A cancelable read's token and its registration.</summary>
    private sealed class WaitCancellation
    {
        public CancellationToken Token;
        public CancellationTokenRegistration Registration;
    }
}
