using System.Text;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.BlackBox;

/// <summary>
/// Base of the black-box broker tests: a real gatehouse process (shared per class through a fixture, or started by
/// the test for special limits), raw clients over real sockets, and the server's output written to the test output
/// (shown when a test fails). Every client and server a test opens through this class is closed after it.
/// </summary>
public abstract class BlackBoxTest : IAsyncLifetime
{
    private readonly ServerFixture? _fixture;
    private readonly List<MqttTestClient> _clients = [];
    private readonly List<ServerProcess> _servers = [];
    private int _bookmark;

    protected BlackBoxTest(ServerFixture? fixture, ITestOutputHelper output)
    {
        _fixture = fixture;
        Output = output;
    }

    protected ITestOutputHelper Output { get; }

    /// <summary>The class's shared server.</summary>
    protected ServerProcess Server => _fixture?.Server ?? throw new InvalidOperationException("This test class has no shared server.");

    public static TheoryData<ProtocolVersion> BothVersions => new() { ProtocolVersion.V311, ProtocolVersion.V500 };

    protected static byte[] Bytes(string text) => Encoding.UTF8.GetBytes(text);

    protected static string Text(ReadOnlyMemory<byte> bytes) => Encoding.UTF8.GetString(bytes.Span);

    protected static string NewTopic(string prefix = "bb") => UniqueNames.Topic(prefix);

    protected static string NewClientId(string prefix = "bb") => UniqueNames.ClientId(prefix);

    /// <summary>A server of its own with extra arguments (limits); closed after the test.</summary>
    protected Task<ServerProcess> StartServerAsync(params string[] arguments) =>
        StartServerAsync(new ServerProcessOptions { Arguments = arguments });

    /// <summary>A server of its own (another store, a restart); closed after the test.</summary>
    protected async Task<ServerProcess> StartServerAsync(ServerProcessOptions options)
    {
        var server = await ServerProcess.StartAsync(options);
        _servers.Add(server);
        return server;
    }

    /// <summary>A connected socket without CONNECT.</summary>
    protected async Task<MqttTestClient> OpenAsync(ProtocolVersion version, ServerProcess? server = null, string name = "raw")
    {
        var client = await MqttTestClient.OpenAsync((server ?? Server).MqttPort, version, name);
        _clients.Add(client);
        return client;
    }

    /// <summary>A connected client (CONNACK success asserted).</summary>
    protected async Task<MqttTestClient> ConnectAsync(
        ProtocolVersion version, string? clientId = null, bool cleanStart = true, ushort keepAlive = 60,
        MqttProperties? properties = null, WillMessage? will = null, ServerProcess? server = null)
    {
        var client = await MqttTestClient.ConnectNewAsync(
            (server ?? Server).MqttPort, version, clientId ?? NewClientId(), cleanStart, keepAlive, properties, will);
        _clients.Add(client);
        return client;
    }

    /// <summary>
    /// A client whose session outlives the connection: Clean Session 0 (3.1.1) or Clean Start 0 with a Session Expiry
    /// Interval of 300 s (5.0) unless <paramref name="properties"/> says otherwise.
    /// </summary>
    protected Task<MqttTestClient> ConnectPersistentAsync(ProtocolVersion version, string clientId, MqttProperties? properties = null, ServerProcess? server = null)
        => ConnectAsync(version, clientId, cleanStart: false,
            properties: version == ProtocolVersion.V500 ? properties ?? new MqttProperties { SessionExpiryInterval = 300 } : null,
            server: server);

    /// <summary>Opens a socket and sends CONNECT, returning the client and the CONNACK whatever its code.</summary>
    protected async Task<(MqttTestClient Client, ConnAckPacket ConnAck)> ConnectRawAsync(
        ProtocolVersion version, string clientId, bool cleanStart, MqttProperties? properties = null, ushort keepAlive = 60,
        WillMessage? will = null, ServerProcess? server = null)
    {
        var client = await OpenAsync(version, server, clientId);
        var connAck = await client.ConnectAsync(clientId, cleanStart, keepAlive, properties, will);
        return (client, connAck);
    }

    public virtual Task InitializeAsync()
    {
        if (_fixture is not null) _bookmark = _fixture.Server.OutputLineCount;
        return Task.CompletedTask;
    }

    public virtual async Task DisposeAsync()
    {
        foreach (var client in _clients) await client.DisposeAsync();
        if (_fixture is not null) WriteServerOutput("shared server", _fixture.Server.OutputSince(_bookmark));
        foreach (var server in _servers)
        {
            await server.DisposeAsync();
            WriteServerOutput("own server", server.Output);
        }
    }

    private void WriteServerOutput(string label, string text)
    {
        const int max = 20_000;
        if (text.Length > max) text = "[...]\n" + text[^max..];
        try
        {
            Output.WriteLine($"--- {label} output ---\n{text}--- end ---");
        }
        catch (InvalidOperationException)
        {
            // No test is running any more.
        }
    }
}
