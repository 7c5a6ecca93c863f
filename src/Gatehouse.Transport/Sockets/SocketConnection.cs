using System.IO.Pipelines;
using System.Runtime.InteropServices;
using Gatehouse.Broker.Connections;

namespace Gatehouse.Transport.Sockets;

/// <summary>
/// One accepted TCP connection as the broker sees it: a duplex pipe whose reader and writer work on the socket
/// directly (see <see cref="SocketInput"/> and SocketConnection.Output.cs). The socket is watched by one
/// <see cref="ReadinessLoop"/> from the start and closes once both sides are completed. The connection is its own
/// descriptor handle and reader (it derives from <see cref="SocketInput"/>) and its own writer
/// (<see cref="IConnectionOutput"/>): one object per connection where a pipe has three.
/// </summary>
internal sealed partial class SocketConnection : SocketInput, IDuplexPipe, IConnectionOutput, IReadinessTarget, IConnectionThread,
    IReceiveAcknowledgement
{
    private readonly SocketListener _listener;
    // The loop watching the socket, by its index (ReadinessLoop.At): 2 bytes in the connection's spare ones, not 8.
    private ushort _loopIndex;
    private GCHandle _registration;
    private int _completedSides;

    /// <summary>A connection waiting for its descriptor (<see cref="SocketDescriptor.TryAccept"/>), then <see cref="Start"/>.</summary>
    public SocketConnection(SocketListener listener)
    {
        _listener = listener;
    }

    /// <summary>Has <paramref name="loop"/> watch the accepted socket from now on.</summary>
    public void Start(ReadinessLoop loop)
    {
        _loopIndex = loop.Index;
        _registration = loop.Register(this, this);
    }

    public PipeReader Input => new InputView(this);
    public PipeWriter Output => new OutputView(this);

    internal override int MaxInputBufferSize => _listener.MaxInputBufferSize;

    void IReadinessTarget.OnReady(uint events)
    {
        // Error and hang-up are reported whatever was asked for: both sides see them (a receive or a send then fails).
        if ((events & ~Epoll.Out) != 0) OnReadable();
        if ((events & (Epoll.Out | Epoll.Err | Epoll.Hup)) != 0) OnWritable();
    }

    /// <summary>The connection's thread is the loop watching its socket.</summary>
    public void Post(IThreadPoolWorkItem work) => ReadinessLoop.At(_loopIndex).Post(work);

    public void AcknowledgeReceivedNow() => SocketDescriptor.AcknowledgeNow(this);

    /// <summary>The writer found the socket's buffer full: from now on writability is reported too.</summary>
    internal void WatchWritable() => ReadinessLoop.At(_loopIndex).WatchWritable(this, _registration);

    private protected override void OnInputCompleted() => OnSideCompleted();

    internal void OnOutputCompleted()
    {
        // The peer reads our FIN after everything written; the socket itself stays open for a reader still lingering.
        SocketDescriptor.ShutdownSend(this);
        OnSideCompleted();
    }

    private void OnSideCompleted()
    {
        if (Interlocked.Increment(ref _completedSides) != 2) return;
        ReadinessLoop.At(_loopIndex).Unregister(this, _registration);
        Dispose();
        _listener.OnConnectionClosed();
    }
}
