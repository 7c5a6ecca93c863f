using System.IO.Pipelines;
using System.Runtime.InteropServices;
using Gatehouse.Broker.Connections;

namespace Gatehouse.Transport.Sockets;

/// <summary>
/// One accepted TCP connection as the broker sees it: a duplex pipe whose reader and writer work on the socket
/// directly (see <see cref="SocketInput"/> and SocketConnection.Output.cs). The socket is watched by one
/// <see cref="ReadinessLoop"/> from the start and closes once both sides are completed. The connection is its own reader
/// (it derives from <see cref="SocketInput"/>) and its own writer (<see cref="IConnectionOutput"/>): one object per
/// connection where a pipe has three.
/// </summary>
internal sealed partial class SocketConnection : SocketInput, IDuplexPipe, IConnectionOutput, IReadinessTarget
{
    private readonly SocketListener _listener;
    private readonly ReadinessLoop _loop;
    private readonly GCHandle _registration;
    private int _completedSides;

    public SocketConnection(SocketFileHandle socket, SocketListener listener, ReadinessLoop loop)
    {
        Handle = socket;
        _listener = listener;
        _loop = loop;
        _registration = loop.Register(socket, this);
    }

    public PipeReader Input => this;
    public PipeWriter Output => new OutputView(this);

    /// <summary>The connection's only owner of its descriptor; disposed once both sides completed.</summary>
    internal override SocketFileHandle Handle { get; }

    internal override int MaxInputBufferSize => _listener.MaxInputBufferSize;

    void IReadinessTarget.OnReady(uint events)
    {
        // Error and hang-up are reported whatever was asked for: both sides see them (a receive or a send then fails).
        if ((events & ~Epoll.Out) != 0) OnReadable();
        if ((events & (Epoll.Out | Epoll.Err | Epoll.Hup)) != 0) OnWritable();
    }

    /// <summary>The writer found the socket's buffer full: from now on writability is reported too.</summary>
    internal void WatchWritable() => _loop.WatchWritable(Handle, _registration);

    private protected override void OnInputCompleted() => OnSideCompleted();

    internal void OnOutputCompleted()
    {
        // The peer reads our FIN after everything written; the socket itself stays open for a reader still lingering.
        Handle.ShutdownSend();
        OnSideCompleted();
    }

    private void OnSideCompleted()
    {
        if (Interlocked.Increment(ref _completedSides) != 2) return;
        _loop.Unregister(Handle, _registration);
        Handle.Dispose();
        _listener.OnConnectionClosed();
    }
}
