using Xunit;

namespace Gatehouse.Testing;

/// <summary>
/// One gatehouse server shared by a test class (<c>IClassFixture&lt;T&gt;</c>). Derive to pass other arguments:
/// <c>public sealed class TightLimitsServer : ServerFixture { protected override ServerProcessOptions Options =&gt; ...; }</c>.
/// </summary>
public class ServerFixture : IAsyncLifetime
{
    private ServerProcess? _server;

    public ServerProcess Server => _server ?? throw new InvalidOperationException("The server has not started.");

    /// <summary>Options for the shared server; by default <c>serve</c> with in-memory storage and only the MQTT listener.</summary>
    protected virtual ServerProcessOptions Options => new();

    public async Task InitializeAsync() => _server = await ServerProcess.StartAsync(Options);

    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }
}
