using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Gatehouse.Broker.Connections;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Storage;
using Gatehouse.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gatehouse.Broker.Tests.InProcess;

/// <summary>
/// A broker in the test's own process on a <see cref="ManualClock"/>, reached over real loopback TCP by
/// <see cref="MqttTestClient"/>s: for behaviour that depends on when deadlines are noticed (will delay, session expiry),
/// which a server process on the real clock can only show by racing it. Each accepted socket is handed to the broker
/// as a stream pipe; no security (anonymous clients), the in-memory store unless a test brings its own.
/// </summary>
internal sealed class InProcessBroker : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _connections = [];
    private Task? _acceptLoop;

    private InProcessBroker(BrokerOptions options, IBrokerStore store)
    {
        Broker = new MqttBroker(options, store, NullLoggerFactory.Instance, Clock);
    }

    public ManualClock Clock { get; } = new();

    /// <summary>Wraps each accepted connection's input before the broker reads it (to watch how the broker reads).</summary>
    public Func<PipeReader, PipeReader>? WrapInput { get; set; }
    public MqttBroker Broker { get; }
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Starts a broker on <paramref name="store"/> (recovering what it holds), a new in-memory store by default.</summary>
    public static async Task<InProcessBroker> StartAsync(BrokerOptions? options = null, IBrokerStore? store = null)
    {
        var broker = new InProcessBroker(options ?? new BrokerOptions(), store ?? new MemoryBrokerStore());
        await broker.Broker.StartAsync(CancellationToken.None);
        broker._listener.Start();
        broker._acceptLoop = broker.AcceptAsync();
        return broker;
    }

    public Task<MqttTestClient> ConnectAsync(string clientId, bool cleanStart = true, MqttProperties? properties = null,
        WillMessage? will = null)
        => MqttTestClient.ConnectNewAsync(Port, ProtocolVersion.V500, clientId, cleanStart, keepAlive: 0, properties, will);

    /// <summary>Waits until the broker has seen <paramref name="clientId"/>'s connection go (its session stays).</summary>
    public Task WaitOfflineAsync(string clientId) =>
        Eventually.Assert(() => Broker.Sessions.Find(clientId) is { IsConnected: false }, $"{clientId} is offline");

    /// <summary>A 5.0 session with <paramref name="properties"/> subscribed to <paramref name="filter"/>, then offline.</summary>
    public async Task SubscribeOfflineAsync(string clientId, string filter, QoS qos, MqttProperties properties)
    {
        await using var client = await MqttTestClient.ConnectNewAsync(Port, ProtocolVersion.V500, clientId, properties: properties);
        await client.SubscribeGrantedAsync(filter, qos);
        await client.DisconnectAsync();
        await WaitOfflineAsync(clientId);
    }

    private async Task AcceptAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stopping.Token);
            }
            catch (Exception) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            socket.NoDelay = true;
            var stream = new NetworkStream(socket, ownsSocket: true);
            var input = PipeReader.Create(stream);
            var pipe = new StreamDuplexPipe(WrapInput?.Invoke(input) ?? input, PipeWriter.Create(stream));
            var info = new ConnectionInfo("tcp", socket.RemoteEndPoint, socket.LocalEndPoint, IsSecure: false);
            lock (_connections) _connections.Add(RunAsync(pipe, info, stream));
        }
    }

    private async Task RunAsync(StreamDuplexPipe pipe, ConnectionInfo info, NetworkStream stream)
    {
        try
        {
            await Broker.HandleConnectionAsync(pipe, info, CancellationToken.None);
        }
        catch (IOException)
        {
            // The stream pipe flushes what is left when the broker completes it; a client that reset the connection
            // makes that throw, where the broker's own socket transports just drop the bytes.
        }
        finally
        {
            await stream.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Stop();
        if (_acceptLoop is not null) await _acceptLoop;
        await Broker.ShutdownAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        await Broker.DisposeAsync();
        Task[] running;
        lock (_connections) running = [.. _connections];
        await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(10));
        _stopping.Dispose();
    }

    private sealed class StreamDuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
