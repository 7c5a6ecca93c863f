using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Gatehouse.Transport.Sockets;

/// <summary>
/// One accepted TCP connection as the broker sees it: a duplex pipe whose reader and writer work on the socket
/// directly (see <see cref="SocketInput"/> and <see cref="SocketOutput"/>). The socket is watched by one
/// <see cref="ReadinessLoop"/> from the start and closes once both sides are completed.
/// </summary>
internal sealed class SocketConnection : IDuplexPipe
{
    private readonly Socket _socket;
    private readonly SocketListener _listener;
    private readonly SocketInput _input;
    private readonly SocketOutput _output;
    private readonly ReadinessLoop _loop;
    private readonly GCHandle _registration;
    private int _completedSides;

    public SocketConnection(Socket socket, SocketListener listener, ReadinessLoop loop, int maxInputBufferSize)
    {
        _socket = socket;
        _listener = listener;
        _loop = loop;
        _input = new SocketInput(this, socket, maxInputBufferSize);
        _output = new SocketOutput(this, socket);
        _registration = loop.Register(socket, _input);
    }

    public PipeReader Input => _input;
    public PipeWriter Output => _output;

    internal void OnInputCompleted() => OnSideCompleted();

    internal void OnOutputCompleted()
    {
        // The peer reads our FIN after everything written; the socket itself stays open for a reader still lingering.
        try
        {
            _socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
        OnSideCompleted();
    }

    private void OnSideCompleted()
    {
        if (Interlocked.Increment(ref _completedSides) != 2) return;
        _loop.Unregister(_socket, _registration);
        _socket.Dispose();
        _listener.OnConnectionClosed();
    }
}
