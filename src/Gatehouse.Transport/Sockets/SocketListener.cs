using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Gatehouse.Broker;
using Gatehouse.Broker.Connections;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Transport.Sockets;

/// <summary>
/// Gatehouse's own plain-TCP MQTT listener (<c>Server:TcpTransport = Sockets</c>, the default). Kestrel's socket
/// transport gives every connection two pipes, a receive and a send loop and a feature collection (about 3.5 KB while
/// idle) and moves every packet across four thread-pool hand-offs; here a connection is one object, its file
/// descriptor's handle (no .NET <see cref="Socket"/>) with a reader and a writer that use it directly: nothing
/// buffered while idle, a received packet is handled on the epoll thread that saw the socket become readable
/// (<see cref="ReadinessLoop"/>), and a flush is one non-blocking send on the writer's thread.
/// Linux only (epoll); elsewhere the host uses Kestrel. TLS and WebSocket listeners stay on Kestrel.
/// </summary>
public sealed class SocketListener : IAsyncDisposable, IReadinessTarget
{
    private readonly MqttBroker _broker;
    private readonly ILogger _log;
    private readonly long _connectionCap;
    private readonly TimeSpan _idlePoll;
    private readonly Lock _accepting = new();
    private Socket? _socket;
    private AcceptedEndPoints? _endPoints;
    private ReadinessLoop? _loop;
    private GCHandle _registration;
    // The next accepted connection's object, made before accept4 runs: the descriptor has its owner the instant it
    // exists, so nothing that throws (an allocation) can come between and leak it. Guarded by _accepting.
    private SocketConnection? _spare;
    private volatile bool _stopped;
    private long _open;

    /// <summary>Whether this platform has what the listener needs (Linux epoll).</summary>
    public static bool IsSupported => Epoll.IsSupported;

    /// <param name="connectionCap">Sockets held at once; beyond it an accepted socket is closed at once.</param>
    /// <param name="maxInputBufferSize">The largest input a connection may buffer (a whole packet must fit).</param>
    /// <param name="idlePoll">How long an I/O thread polls for more work after handling some before it sleeps.</param>
    public SocketListener(MqttBroker broker, ILogger<SocketListener> log, long connectionCap, int maxInputBufferSize, TimeSpan idlePoll)
    {
        _idlePoll = idlePoll;
        _broker = broker;
        _log = log;
        _connectionCap = connectionCap;
        MaxInputBufferSize = maxInputBufferSize;
    }

    /// <summary>Read by the connections' inputs from here, not kept by each: one field less per connection.</summary>
    internal int MaxInputBufferSize { get; }

    /// <summary>The bound endpoint (with the port chosen when 0 was asked for); null before <see cref="Bind"/>.</summary>
    public IPEndPoint? EndPoint => _socket?.LocalEndPoint as IPEndPoint;

    /// <summary>Binds and listens. Throws <see cref="SocketException"/> when the address cannot be bound.</summary>
    public void Bind(IPEndPoint endPoint)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.Address.Equals(IPAddress.IPv6Any)) socket.DualMode = true;
            // As Kestrel does: a restarted broker can bind while the old connections are in TIME_WAIT.
            if (!OperatingSystem.IsWindows()) socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            // Linux gives accepted sockets the listener's TCP_NODELAY: set once here, not per connection. Small packets
            // (a CONNACK, a PUBACK, a PINGRESP) leave at once instead of waiting for Nagle's algorithm.
            socket.NoDelay = true;
            socket.Bind(endPoint);
            // The kernel caps the backlog at net.core.somaxconn; a connect storm needs a long one.
            socket.Listen(4096);
            // accept4 then says EAGAIN when the queue is empty, so accepting needs no poll first. Accepted sockets do
            // not inherit O_NONBLOCK: they stay in blocking mode (NonBlockingIo passes MSG_DONTWAIT).
            socket.Blocking = false;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        _socket = socket;
        _endPoints = new AcceptedEndPoints((IPEndPoint)socket.LocalEndPoint!);
    }

    public void Start()
    {
        if (_socket is null) throw new InvalidOperationException("Bind first.");
        _loop = ReadinessLoop.Next(_log, _idlePoll);
        _registration = _loop.Register(_socket.SafeHandle, this);
        // Edge-triggered: connections that queued before the registration raise no event of their own.
        AcceptPending();
    }

    /// <summary>Stops accepting. Open connections are the broker's to close (graceful shutdown).</summary>
    public ValueTask DisposeAsync()
    {
        _stopped = true;
        if (_socket is { } socket)
        {
            lock (_accepting)
            {
                if (_loop is { } loop) loop.Unregister(socket.SafeHandle, _registration);
                socket.Dispose();
                _spare?.Dispose();
                _spare = null;
            }
        }
        return ValueTask.CompletedTask;
    }

    internal void OnConnectionClosed() => Interlocked.Decrement(ref _open);

    /// <summary>
    /// Connections accepted per turn of the readiness loop. Accepting a whole connect storm before handling anything else
    /// would keep every accepted client waiting for its CONNACK until the last one is in; taking a few per turn lets the
    /// CONNECTs that arrived meanwhile be answered in between.
    /// </summary>
    private const int AcceptsPerTurn = 8;

    void IReadinessTarget.OnReady(uint events)
    {
        if (AcceptPending(AcceptsPerTurn)) _loop!.ReadyAgain(this);
    }

    /// <summary>
    /// Accepts the queued connections (at most <paramref name="limit"/>), on the readiness loop's thread: the connection's first read (its CONNECT, often
    /// already there) runs here too, with no hand-off. Accepts until the (non-blocking) listening socket says EAGAIN; the
    /// lock keeps a retry (below) from racing the loop for the last connection (and guards the address buffers of
    /// <see cref="AcceptedEndPoints"/>).
    /// </summary>
    /// <returns>True when it stopped at <paramref name="limit"/> with connections possibly still queued.</returns>
    private bool AcceptPending(int limit = int.MaxValue)
    {
        lock (_accepting)
        {
            var listener = _socket!;
            var endPoints = _endPoints!;
            try
            {
                for (var accepted = 0; !_stopped; )
                {
                    if (accepted == limit) return true;
                    var connection = _spare ??= new SocketConnection(this);
                    if (SocketDescriptor.TryAccept(listener.SafeHandle, connection, endPoints.Remote, out var errno))
                    {
                        _spare = null;
                        Accept(connection, endPoints);
                        accepted++;
                        continue;
                    }
                    switch (errno)
                    {
                        case Errno.Eintr: // a signal came first
                        case Errno.Econnaborted or Errno.Econnreset: // gone before we took it
                            continue;
                        case Errno.Eagain:
                            return false; // all taken
                        default:
                            // Out of descriptors (EMFILE/ENFILE) or out of memory: report it and try again shortly;
                            // edge-triggered readiness would not report the connections still queued.
                            _broker.Context.Limits.Hit("accept", $"accepting on {EndPoint} failed: {Marshal.GetPInvokeErrorMessage(errno)}");
                            _ = RetrySoonAsync();
                            return false;
                    }
                }
            }
            catch (ObjectDisposedException)
            {
                // Stopped.
            }
            return false;
        }
    }

    private async Task RetrySoonAsync()
    {
        await Task.Delay(10).ConfigureAwait(false);
        AcceptPending();
    }

    private void Accept(SocketConnection connection, AcceptedEndPoints endPoints)
    {
        if (Interlocked.Increment(ref _open) > _connectionCap)
        {
            Interlocked.Decrement(ref _open);
            _broker.Context.Limits.Hit("open-file limit",
                $"{_connectionCap} sockets are open on {EndPoint}; connection from {new IPEndPoint(endPoints.RemoteAddress(out var peerPort), peerPort)} closed at once");
            connection.Dispose();
            return;
        }
        try
        {
            var info = new ConnectionInfo(endPoints.Origin(connection), endPoints.RemoteAddress(out var port), port);
            connection.Start(ReadinessLoop.Next(_log, _idlePoll));
            // Runs until the read loop's first wait. The connection logs and contains its own failures (ClientConnection.RunAsync).
            _ = _broker.HandleConnectionAsync(connection, info, CancellationToken.None);
        }
        catch (SocketException ex)
        {
            // Reset before we got to it.
            _log.LogDebug(ex, "Accepted connection failed before it started");
            Interlocked.Decrement(ref _open);
            connection.Dispose();
        }
    }
}
