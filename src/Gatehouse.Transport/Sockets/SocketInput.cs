using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;
using Gatehouse.Broker.Connections;

namespace Gatehouse.Transport.Sockets;

/// <summary>
/// The read side of a <see cref="SocketConnection"/>, and the connection's file descriptor: a reader (the broker reads
/// through <see cref="ICallbackReader"/>; <see cref="InputView"/> is its PipeReader form) that receives straight into one
/// pooled buffer. An idle connection holds no buffer at all: when nothing is readable the buffer goes back to the pool and the
/// read waits for the <see cref="ReadinessLoop"/> to report the socket readable; the read loop then continues on that
/// loop's thread, with no pipe and no thread hand-off in between.
/// <para>
/// <see cref="SocketConnection"/> derives from it: the reader is part of every connection, and as an object of its own
/// it cost each one a header and two references (32 bytes). It is the descriptor's <see cref="SafeHandle"/> too, for the
/// same reason (a handle object of its own was 32 bytes and a reference). What it needs of the connection is abstract here.
/// </para>
/// </summary>
internal abstract class SocketInput : SafeHandle, ICallbackReader
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

    // Who waits for input: the broker's read loop (an IReadCompletion, called back where the wait completes) or an
    // awaited ReadAsync (its AwaitedRead, made on the first awaited read that has to wait: the linger drain). An idle
    // connection waits the first way, so it holds one reference here rather than a ValueTask source (48 bytes). A
    // callback read that failed (the input buffer limit) leaves its exception here for GetCompletedRead, which the read
    // loop calls next and then ends.
    private object? _waiter;
    // A callback read's wait was canceled; an awaited read keeps that in its core.
    private bool _waitCanceled;
    private int _state;
    private int _cancelRequested;

    /// <summary>No descriptor yet: <see cref="Adopt"/> gives it the one accept4 returned.</summary>
    protected SocketInput() : base(invalidHandleValue: -1, ownsHandle: true)
    {
    }

    // The descriptor is a C int (see SocketDescriptor.TryAccept).
    public override bool IsInvalid => (int)handle < 0;

    /// <summary>Takes ownership of a just-accepted descriptor: nothing runs between accept4 and this that could lose it.</summary>
    internal void Adopt(int descriptor) => SetHandle(descriptor);

    // The connection is its descriptor's owner: every recv, send and shutdown passes it as a SafeHandle, so the marshaller
    // holds a reference for the call, and close(2) runs (once) only after the last call on it returned; a reused number
    // belonging to another connection is never called. close releases the descriptor even when it reports an error.
    protected override bool ReleaseHandle()
    {
        SocketDescriptor.Close((int)handle);
        return true;
    }

    /// <summary>The largest the receive buffer may grow (the largest packet the broker accepts).</summary>
    internal abstract int MaxInputBufferSize { get; }

    /// <summary>The reader was completed: the connection closes once its writer is too.</summary>
    private protected abstract void OnInputCompleted();

    public ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (TryRead(out var result)) return new ValueTask<ReadResult>(result);
        cancellationToken.ThrowIfCancellationRequested();
        var awaited = _waiter as AwaitedRead ?? new AwaitedRead(this);
        awaited.Core.Reset();
        awaited.Token = cancellationToken;
        if (ReadOrWait(awaited, out result)) return new ValueTask<ReadResult>(result);
        var version = awaited.Core.Version;
        awaited.RegisterCancellation();
        // A CancelPendingRead that came between the check in TryRead and the wait: honour it now.
        if (Volatile.Read(ref _cancelRequested) != 0 && ClaimWait()) FinishCanceled();
        return new ValueTask<ReadResult>(awaited, version);
    }

    /// <summary>A read whose completion calls <paramref name="completion"/> rather than an awaiter (see <see cref="ICallbackReader"/>).</summary>
    public bool TryStartRead(out ReadResult result, IReadCompletion completion)
    {
        if (ReadOrWait(completion, out result)) return true;
        if (Volatile.Read(ref _cancelRequested) != 0 && ClaimWait()) FinishCanceled();
        return false;
    }

    public ReadResult GetCompletedRead()
    {
        if (_waiter is Exception error)
        {
            _waiter = null;
            ExceptionDispatchInfo.Throw(error);
        }
        var canceled = _waitCanceled;
        _waitCanceled = false;
        return CompletedRead(canceled);
    }

    /// <summary>
    /// Reads what is there, or publishes a wait for <paramref name="waiter"/> (false): nothing is buffered and nothing is
    /// readable right now, so the wait holds no buffer.
    /// </summary>
    private bool ReadOrWait(object waiter, out ReadResult result)
    {
        while (true)
        {
            if (TryRead(out result)) return true;
            ReleaseBufferIfEmpty();
            // Set before the wait is published: whoever claims the wait completes it through this.
            _waiter = waiter;
            if (Interlocked.CompareExchange(ref _state, Waiting, Idle) != Signaled) return false;
            // Readiness was reported after the receive above found nothing: receive again.
            _drained = false;
            Volatile.Write(ref _state, Idle);
        }
    }

    /// <summary>What a completed wait gives the reader: a canceled read, or what is buffered (or the socket's error).</summary>
    private ReadResult CompletedRead(bool canceled) => canceled
        ? new ReadResult(Buffered(), isCanceled: true, isCompleted: false)
        : Result();

    public bool TryRead(out ReadResult result)
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

    public void AdvanceTo(SequencePosition consumed, SequencePosition examined)
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

    public void CancelPendingRead()
    {
        Volatile.Write(ref _cancelRequested, 1);
        if (ClaimWait()) FinishCanceled();
    }

    public void Complete()
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
            FailWait(ex);
            return;
        }
        if (!received)
        {
            // Reported for bytes an earlier receive already took: wait again. Edge-triggered reports come from this
            // thread only, so none can slip in before the wait is re-armed.
            Volatile.Write(ref _state, Waiting);
            (_waiter as AwaitedRead)?.RegisterCancellation();
            if (Volatile.Read(ref _cancelRequested) != 0 && ClaimWait()) FinishCanceled();
            return;
        }
        // Not canceled; the reader makes the ReadResult (or meets the socket's error) from the buffer when it takes it.
        CompleteWait(canceled: false);
    }

    /// <summary>Takes a waiting read for completion; false when no read is waiting (or someone else took it).</summary>
    private bool ClaimWait()
    {
        if (Interlocked.CompareExchange(ref _state, Idle, Waiting) != Waiting) return false;
        (_waiter as AwaitedRead)?.UnregisterCancellation();
        return true;
    }

    /// <summary>Completes the claimed wait: on this thread, so the reader goes on here.</summary>
    private void CompleteWait(bool canceled)
    {
        if (_waiter is AwaitedRead awaited)
        {
            awaited.Core.SetResult(canceled);
            return;
        }
        _waitCanceled = canceled;
        ((IReadCompletion)_waiter!).OnReadCompleted();
    }

    private void FailWait(Exception error)
    {
        if (_waiter is AwaitedRead awaited)
        {
            awaited.Core.SetException(error);
            return;
        }
        var completion = (IReadCompletion)_waiter!;
        _waiter = error;
        completion.OnReadCompleted();
    }

    private void FinishCanceled()
    {
        Volatile.Write(ref _cancelRequested, 0);
        // Not inline: the canceller (a close, a timer) must not run the rest of the read loop on its own stack.
        ThreadPool.UnsafeQueueUserWorkItem(static input => input.CompleteWait(canceled: true), this, preferLocal: false);
    }

    private ReadOnlySequence<byte> Buffered()
        => _buffer is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(_buffer, _start, _end - _start);

    private ReadResult Result()
    {
        // A failed socket (a reset) fails the read once nothing is left that the reader has not seen: with bytes of a
        // packet buffered that the reader already examined (it needs more), handing them back again would have the read
        // loop ask forever on the I/O thread, stalling every connection that thread serves.
        if (_error is { } error && (_end == _start || _examinedAll)) throw new IOException(error.Message, error);
        return new ReadResult(Buffered(), isCanceled: false, isCompleted: _endOfStream);
    }

    /// <summary>Receives what the socket has without blocking. False when nothing is readable (would block).</summary>
    private bool Receive()
    {
        EnsureSpace();
        var room = _buffer.Length - _end;
        var received = NonBlockingIo.Receive(this, _buffer.AsSpan(_end, room), out var error);
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

    /// <summary>
    /// The reader as a <see cref="PipeReader"/>, made on each call for those that need one (the linger drain, a refused
    /// connection's completion): the broker's read loop reads through <see cref="ICallbackReader"/>, and a PipeReader base
    /// class would cost every connection a field.
    /// </summary>
    internal sealed class InputView(SocketInput input) : PipeReader
    {
        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) => input.ReadAsync(cancellationToken);
        public override bool TryRead(out ReadResult result) => input.TryRead(out result);
        public override void AdvanceTo(SequencePosition consumed) => input.AdvanceTo(consumed, consumed);
        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => input.AdvanceTo(consumed, examined);
        public override void CancelPendingRead() => input.CancelPendingRead();
        public override void Complete(Exception? exception = null) => input.Complete();
    }

    /// <summary>
    /// The wait of an awaited <see cref="ReadAsync"/> and its token. The broker passes a fresh token per read (the linger
    /// drain) or none, so a registration outliving its wait never meets a later one.
    /// </summary>
    private sealed class AwaitedRead(SocketInput input) : IValueTaskSource<ReadResult>
    {
        // The result is only "canceled or not": the ReadResult is made from the buffer when the reader takes it.
        public ManualResetValueTaskSourceCore<bool> Core;
        public CancellationToken Token;
        private CancellationTokenRegistration _registration;

        /// <summary>Registered once the wait is published.</summary>
        public void RegisterCancellation()
        {
            if (!Token.CanBeCanceled) return;
            _registration = Token.UnsafeRegister(static (state, token) =>
            {
                var awaited = (AwaitedRead)state!;
                if (awaited.Owner.ClaimWait()) awaited.Owner.FailWait(new OperationCanceledException(token));
            }, this);
        }

        public void UnregisterCancellation()
        {
            _registration.Unregister();
            _registration = default;
        }

        private SocketInput Owner => input;

        public ReadResult GetResult(short token) => input.CompletedRead(Core.GetResult(token));
        public ValueTaskSourceStatus GetStatus(short token) => Core.GetStatus(token);
        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
            => Core.OnCompleted(continuation, state, token, flags);
    }
}
