using System.IO.Pipelines;
using Gatehouse.Broker.Connections;
using Gatehouse.Storage;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Broker;

/// <summary>The broker: owns sessions, subscriptions, retained messages and routing. Transports hand it connections.</summary>
public sealed class MqttBroker : IAsyncDisposable
{
    public MqttBroker(BrokerOptions options, IBrokerStore store, ILoggerFactory loggerFactory, TimeProvider? timeProvider = null)
    {
        throw new NotImplementedException();
    }

    /// <summary>Loads persisted state from the store and starts the timers (keep-alive, expiry, will delay, $SYS).</summary>
    public Task StartAsync(CancellationToken cancellationToken) => throw new NotImplementedException();

    /// <summary>
    /// Runs one client connection to its end: reads packets from <paramref name="transport"/>.Input and writes
    /// replies to <paramref name="transport"/>.Output. Completes when the connection is closed by either side.
    /// Never throws for anything the peer does.
    /// </summary>
    public Task HandleConnectionAsync(IDuplexPipe transport, ConnectionInfo info, CancellationToken connectionClosed)
        => throw new NotImplementedException();

    /// <summary>Graceful shutdown: stop accepting, send DISCONNECT 0x8B to v5 clients, flush and close all connections.</summary>
    public Task ShutdownAsync(CancellationToken cancellationToken) => throw new NotImplementedException();

    public ValueTask DisposeAsync() => throw new NotImplementedException();
}
