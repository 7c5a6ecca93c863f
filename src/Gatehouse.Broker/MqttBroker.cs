using System.IO.Pipelines;
using System.Diagnostics;
using Gatehouse.Broker.Connections;
using Gatehouse.Broker.Diagnostics;
using Gatehouse.Broker.Recovery;
using Gatehouse.Broker.Retained;
using Gatehouse.Broker.Routing;
using Gatehouse.Broker.Sessions;
using Gatehouse.Broker.Sys;
using Gatehouse.Broker.Timers;
using Gatehouse.Protocol;
using Gatehouse.Security;
using Gatehouse.Storage;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Broker;

/// <summary>
/// The broker: composes sessions, the subscription index, retained messages, timers and $SYS, and runs the
/// connections transports hand it. One instance per process; nothing static.
/// </summary>
public sealed class MqttBroker : IAsyncDisposable
{
    private readonly ILogger _log;
    private readonly Housekeeping _housekeeping;
    private readonly SysTopics _sys;
    private volatile bool _shuttingDown;

    public MqttBroker(BrokerOptions options, IBrokerStore store, ILoggerFactory loggerFactory, TimeProvider? timeProvider = null,
        IBrokerSecurity? security = null)
    {
        Context = new BrokerContext(options, store, timeProvider ?? TimeProvider.System, loggerFactory) { Security = security };
        _log = loggerFactory.CreateLogger("Gatehouse.Broker");
        Router = new Router(Context);
        Retained = new RetainedMessages(Context);
        Sessions = new SessionManager(Context, Router, PublishWill);
        Connections = new ConnectionRegistry(Context);
        _housekeeping = new Housekeeping(Context, Connections, Sessions, Retained);
        _sys = new SysTopics(this, Context);
    }

    public BrokerContext Context { get; }
    public BrokerMetrics Metrics => Context.Metrics;
    public Router Router { get; }
    public RetainedMessages Retained { get; }
    public SessionManager Sessions { get; }
    public ConnectionRegistry Connections { get; }
    public SysTopics Sys => _sys;
    public bool IsShuttingDown => _shuttingDown;

    /// <summary>Loads persisted state from the store and starts the timers (keep-alive, expiry, will delay, $SYS).</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.StartNew();
        var snapshot = await Context.Store.LoadAsync(cancellationToken).ConfigureAwait(false);
        var counts = StateRecovery.Restore(snapshot, this);
        if (Context.Security is { } security)
        {
            // Session ownership survives restarts: only the identity that created a session may resume it.
            foreach (var session in Sessions.All) session.OwnerIdentity = security.RecallSessionOwner(session.ClientId);
        }
        if (counts.Sessions + counts.Retained > 0)
        {
            _log.LogInformation("Recovered {Sessions} sessions, {Subscriptions} subscriptions, {Queued} queued messages and {Retained} retained messages in {Elapsed} ms",
                counts.Sessions, counts.Subscriptions, counts.Deliveries, counts.Retained, started.ElapsedMilliseconds);
        }
        _housekeeping.Start();
        _sys.Start();
    }

    /// <summary>
    /// Runs one client connection to its end: reads packets from <paramref name="transport"/>.Input and writes
    /// replies to <paramref name="transport"/>.Output. Completes when the connection is closed by either side.
    /// Never throws for anything the peer does.
    /// </summary>
    public Task HandleConnectionAsync(IDuplexPipe transport, ConnectionInfo info, CancellationToken connectionClosed)
    {
        if (_shuttingDown) return RefuseAsync(transport);
        var connection = new ClientConnection(transport, info, this);
        BrokerMetrics.Add(ref Context.Metrics.ConnectionsCurrent);
        BrokerMetrics.Add(ref Context.Metrics.ConnectionsTotal);
        Connections.Add(connection.Protocol);
        // Not awaited here: one async frame less per connection; the connection reports its end (OnConnectionEnded).
        return connectionClosed.CanBeCanceled ? RunWatchedAsync(connection, connectionClosed) : connection.RunAsync();
    }

    /// <summary>
    /// For a transport that reports the peer's loss by a token (Kestrel's ConnectionClosed). Only an abort stops reading
    /// early: after the peer's FIN (which also fires that token) every packet it sent before closing is still handled —
    /// a burst followed by DISCONNECT loses nothing [MQTT-4.6.0-6]. Our own TCP transport has no such token, and its
    /// connections hold neither this frame nor the registration.
    /// </summary>
    private static async Task RunWatchedAsync(ClientConnection connection, CancellationToken connectionClosed)
    {
        using var registration = connectionClosed.Register(static state => ((ClientConnection)state!).AbortIfIdle(), connection);
        await connection.RunAsync().ConfigureAwait(false);
    }

    /// <summary>Called by a connection as the very last step of its run.</summary>
    internal void OnConnectionEnded(ClientConnection connection)
    {
        Connections.Remove(connection.Protocol);
        BrokerMetrics.Add(ref Context.Metrics.ConnectionsCurrent, -1);
    }

    private static async Task RefuseAsync(IDuplexPipe transport)
    {
        await transport.Output.CompleteAsync().ConfigureAwait(false);
        await transport.Input.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>Publishes a message originated by the broker itself ($SYS, device hub).</summary>
    public void PublishServerMessage(string topic, ReadOnlyMemory<byte> payload, bool retain, QoS qos = QoS.AtMostOnce)
    {
        var message = new ApplicationMessage
        {
            Topic = topic,
            Payload = payload,
            QoS = qos,
            Retain = retain,
            Id = Context.NextMessageId(),
        };
        var barrier = new DurabilityBarrier();
        // $SYS values are rebuilt at start-up, so they are retained in memory only.
        if (retain) Retained.Restore(message);
        Router.Publish(message, ref barrier);
    }

    /// <summary>
    /// Revocation: disconnects every live connection authenticated as <paramref name="identity"/>, with DISCONNECT
    /// <paramref name="reasonCode"/> for 5.0 clients (0x98 Administrative action for a revoked identity) [MQTT-4.13.2-1].
    /// Its sessions stay (only the owner may resume them, and it can no longer authenticate) until they expire.
    /// Returns the number of connections closed.
    /// </summary>
    public int DisconnectIdentity(string identity, ReasonCode reasonCode)
    {
        var closed = 0;
        foreach (var channel in Connections.All)
        {
            if (channel.Principal?.Identity is not { } owner || !string.Equals(owner, identity, StringComparison.Ordinal)) continue;
            channel.DisconnectByServer(reasonCode);
            closed++;
        }
        return closed;
    }

    /// <summary>Graceful shutdown: stop accepting, send DISCONNECT 0x8B to v5 clients, flush and close all connections.</summary>
    public async Task ShutdownAsync(CancellationToken cancellationToken)
    {
        _shuttingDown = true;
        var channels = Connections.All;
        _log.LogInformation("Shutting down: disconnecting {Count} connections", channels.Count);
        foreach (var channel in channels) channel.DisconnectByServer(ReasonCode.ServerShuttingDown);
        while (Connections.Count > 0 && !cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _sys.DisposeAsync().ConfigureAwait(false);
        await _housekeeping.DisposeAsync().ConfigureAwait(false);
        Sessions.Stop();
    }

    private void PublishWill(ApplicationMessage will)
    {
        BrokerMetrics.Add(ref Context.Metrics.WillsPublished);
        var barrier = new DurabilityBarrier();
        if (will.Retain) Retained.Apply(will, ref barrier);
        Router.Publish(will, ref barrier);
    }
}
