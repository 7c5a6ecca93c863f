using System.Net;
using System.Net.Sockets;
using Gatehouse.Broker;
using Gatehouse.Security;
using Gatehouse.Security.Audit;
using Gatehouse.Security.Authentication;
using Gatehouse.Security.Identities;
using Gatehouse.Storage;
using Gatehouse.Storage.Embedded;
using Gatehouse.Transport.Sockets;
using Gatehouse.Transport.Tcp;
using Gatehouse.Transport.Tls;
using Gatehouse.Transport.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Gatehouse.Hosting;

/// <summary>
/// The composition root of <c>gatehouse serve</c>: one Kestrel server with a listener per enabled port (raw MQTT
/// connection handlers for TCP/TLS, HTTP for WebSocket and health), the broker, its store and the console logger.
/// </summary>
public sealed class GatehouseHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HostPlan _plan;
    private readonly List<(ListenerSpec Spec, ListenOptions Options)> _bound = [];
    private SocketListener? _socketListener;

    private GatehouseHost(HostPlan plan, IConfiguration configuration)
    {
        _plan = plan;
        _app = Build(configuration);
    }

    /// <summary>Builds the host; nothing is bound or started yet.</summary>
    public static GatehouseHost Create(HostPlan plan, IConfiguration configuration) => new(plan, configuration);

    public IServiceProvider Services => _app.Services;

    /// <summary>
    /// Starts the broker and binds every listener. Throws <see cref="SettingsException"/> when a port cannot be bound.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // The broker (with its store and security) first, outside the host: a damaged store or security database stops
        // start-up with its one-line error, not with the host's "Hosting failed to start" report.
        _app.Services.GetRequiredService<MqttBroker>();
        try
        {
            await _app.StartAsync(cancellationToken);
        }
        catch (IOException ex) when (ex.InnerException is AddressInUseException or SocketException)
        {
            throw TranslateBindFailure(ex);
        }
    }

    /// <summary>The listeners with the endpoints they are bound to, in start-up line order.</summary>
    public IEnumerable<(ListenerSpec Listener, IPEndPoint EndPoint)> BoundListeners
    {
        get
        {
            foreach (var spec in _plan.Listeners)
            {
                if (IsOwnTcpListener(spec))
                {
                    yield return (spec, _socketListener?.EndPoint ?? new IPEndPoint(_plan.BindAddress, spec.Port));
                    continue;
                }
                foreach (var (bound, options) in _bound)
                {
                    if (bound == spec) yield return (spec, options.IPEndPoint ?? new IPEndPoint(_plan.BindAddress, spec.Port));
                }
            }
        }
    }

    private const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>The plain-TCP MQTT listener runs on Gatehouse's own socket transport unless Kestrel was asked for.</summary>
    private bool IsOwnTcpListener(ListenerSpec spec)
        => spec.Kind == ListenerKind.Mqtt && _plan.Server.TcpTransport == TcpTransportKind.Sockets && SocketListener.IsSupported;

    /// <summary>Completes when the host was asked to stop (SIGTERM, SIGINT, Ctrl+C) and has shut down gracefully.</summary>
    public Task WaitForShutdownAsync(CancellationToken cancellationToken) => _app.WaitForShutdownAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => _app.StopAsync(cancellationToken);

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    private WebApplication Build(IConfiguration configuration)
    {
        var plan = _plan;
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            ApplicationName = "gatehouse",
            ContentRootPath = AppContext.BaseDirectory,
            EnvironmentName = Environments.Production,
        });
        builder.Configuration.AddConfiguration(configuration);

        // Logs go to stderr, one line each; stdout carries only the start-up lines ("... listening on ...", "ready").
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        });
        builder.Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);

        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(plan.Server.ShutdownTimeoutSeconds));
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);

        // A whole packet may have to sit in the input buffer before the broker consumes it.
        var inputBuffer = Math.Max(1024L * 1024, plan.Broker.MaxPacketSize + 64L * 1024);
        builder.Services.Configure<WebSocketDuplexPipeOptions>(o => o.MaxInputBufferSize = inputBuffer);

        var descriptors = DescriptorBudget.ForCurrentProcess();
        var requestedConnections = plan.Broker.MaxConnections;
        if (descriptors is not null)
        {
            plan.Broker.MaxConnections = Math.Min(requestedConnections, descriptors.ClientCap);
            // Before the listeners start: no connect storm waits for the kernel to grow the descriptor table.
            DescriptorTable.Presize(plan.Broker.MaxConnections + descriptors.Reserved, descriptors.OpenFileLimit);
        }
        builder.Services.AddSingleton(plan.Broker);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<IBrokerStore>(sp => CreateStore(plan, sp.GetRequiredService<ILoggerFactory>()));
        if (plan.Security is { } securityPlan) AddSecurity(builder.Services, plan, securityPlan);
        builder.Services.AddSingleton(sp =>
        {
            // The store first: a damaged store stops start-up before security says anything.
            var store = sp.GetRequiredService<IBrokerStore>();
            var security = sp.GetService<SecurityService>();
            var broker = new MqttBroker(
                sp.GetRequiredService<BrokerOptions>(),
                store,
                sp.GetRequiredService<ILoggerFactory>(),
                sp.GetRequiredService<TimeProvider>(),
                security);
            if (plan.Broker.MaxConnections < requestedConnections)
            {
                sp.GetRequiredService<ILoggerFactory>().CreateLogger("Gatehouse.Limits").LogWarning(
                    "Broker:MaxConnections {Requested} is more than the open-file limit ({Limit}) allows: at most {Cap} clients are accepted " +
                    "(the rest get CONNACK 0x89 / 3). Raise the limit (ulimit -n, systemd LimitNOFILE) to accept more",
                    requestedConnections, descriptors!.OpenFileLimit, plan.Broker.MaxConnections);
            }
            if (ThreadPoolSpinning.Disabled)
            {
                sp.GetRequiredService<ILoggerFactory>().CreateLogger("Gatehouse.Host").LogInformation(
                    "One core: idle thread-pool workers sleep without spinning (System.Threading.ThreadPool.UnfairSemaphoreSpinLimit 0)");
            }
            if (security is not null)
            {
                // Revocation: a disabled or removed identity, or a changed credential, ends its live connections.
                security.IdentityRevoked = broker.DisconnectIdentity;
                security.Start();
            }
            return broker;
        });
        builder.Services.AddHostedService<BrokerLifetimeService>();
        if (plan.Listeners.FirstOrDefault(IsOwnTcpListener) is { } tcp)
        {
            builder.Services.AddHostedService(sp => new SocketListenerService(
                _socketListener = new SocketListener(
                    sp.GetRequiredService<MqttBroker>(),
                    sp.GetRequiredService<ILoggerFactory>().CreateLogger<SocketListener>(),
                    descriptors?.TransportCap ?? long.MaxValue,
                    (int)Math.Min(int.MaxValue, inputBuffer),
                    TimeSpan.FromMicroseconds(plan.Server.IdlePollMicroseconds)),
                tcp, plan.BindAddress));
        }
        if (plan.Certificate is { } initialCertificate)
        {
            // --tls-cert / --tls-key are watched: new handshakes use the new certificate without a restart.
            var tls = plan.Server.Tls;
            builder.Services.AddSingleton(sp => new ReloadingServerCertificate(initialCertificate, tls.Certificate!,
                string.IsNullOrEmpty(tls.Key) ? null : tls.Key, string.IsNullOrEmpty(tls.Password) ? null : tls.Password,
                sp.GetRequiredService<ILoggerFactory>().CreateLogger("Gatehouse.Tls")));
        }
        builder.Services.AddRoutingCore();

        // Kestrel's inline scheduling covers its pipes; the runtime's socket engine reads its own switch when it starts
        // (Kestrel's first accept, after this), so it is set here unless the environment already decides.
        if (plan.Server.InlineKestrelCallbacks && Environment.GetEnvironmentVariable(InlineCompletionsVariable) is null)
        {
            Environment.SetEnvironmentVariable(InlineCompletionsVariable, "1");
        }
        builder.WebHost
            .UseKestrelCore()
            .UseSockets(o =>
            {
                o.MaxReadBufferSize = inputBuffer;
                o.UnsafePreferInlineScheduling = plan.Server.InlineKestrelCallbacks;
            })
            .ConfigureKestrel(kestrel =>
            {
                kestrel.AddServerHeader = false;
                // Sockets past this are closed at once, before they can take the descriptors the process needs to live.
                if (descriptors is not null) kestrel.Limits.MaxConcurrentConnections = descriptors.TransportCap;
                _bound.Clear();
                var certificates = kestrel.ApplicationServices.GetService<ReloadingServerCertificate>();
                foreach (var listener in plan.Listeners)
                {
                    if (IsOwnTcpListener(listener)) continue;
                    kestrel.Listen(plan.BindAddress, listener.Port, options =>
                    {
                        ConfigureListener(options, listener.Kind, certificates, plan.Security?.ClientCertificates);
                        _bound.Add((listener, options));
                    });
                }
            });
        if (plan.Listeners.All(IsOwnTcpListener)) builder.Services.AddSingleton<Microsoft.AspNetCore.Hosting.Server.IServer, NoHttpServer>();

        var app = builder.Build();

        var webSocketPorts = plan.Listeners
            .Where(l => l.Kind is ListenerKind.MqttWebSocket or ListenerKind.MqttSecureWebSocket)
            .Select(l => l.Port)
            .ToHashSet();
        app.MapWhen(context => webSocketPorts.Contains(context.Connection.LocalPort), ws =>
        {
            ws.UseWebSockets();
            ws.Run(MqttWebSocketEndpoint.HandleAsync);
        });
        HttpEndpoints.MapHealth(app);
        return app;
    }

    private static void ConfigureListener(ListenOptions options, ListenerKind kind, ReloadingServerCertificate? certificate,
        ClientCertificateValidator? clientCertificates)
    {
        switch (kind)
        {
            case ListenerKind.Mqtt:
                options.UseConnectionHandler<MqttConnectionHandler>();
                break;
            case ListenerKind.MqttTls:
                options.UseMqttTls(certificate!, clientCertificates);
                options.UseConnectionHandler<MqttConnectionHandler>();
                break;
            case ListenerKind.MqttWebSocket:
                options.Protocols = HttpProtocols.Http1;
                break;
            case ListenerKind.MqttSecureWebSocket:
                options.Protocols = HttpProtocols.Http1;
                options.UseWebSocketTls(certificate!, clientCertificates);
                break;
            case ListenerKind.Http:
                // Cleartext: HTTP/2 would need prior knowledge; keep Kestrel from warning about it.
                options.Protocols = HttpProtocols.Http1;
                break;
        }
    }

    /// <summary>
    /// Identities, ACL rules and audit live in security.db in the data directory whatever the broker's storage, so the
    /// CLI (<c>gatehouse identities</c>, <c>gatehouse acl</c>) and the server share them; the server polls for changes.
    /// </summary>
    private static void AddSecurity(IServiceCollection services, HostPlan plan, SecurityPlan security)
    {
        SqliteSecurityStore store;
        try
        {
            store = SqliteSecurityStore.Open(plan.DataDirectory);
        }
        catch (Exception ex) when (ex is InvalidOperationException or Microsoft.Data.Sqlite.SqliteException)
        {
            throw new SettingsException($"cannot open {SqliteSecurityStore.FileName}: {SettingsException.OneLine(ex.Message)}", ex);
        }
        services.AddSingleton(store);
        services.AddSingleton(sp => new AuditLog(store, security.Options.AuditRetentionRows,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger("Gatehouse.Audit")));
        services.AddSingleton(sp =>
        {
            var loggerFactory = sp.GetRequiredService<ILoggerFactory>();
            var service = new SecurityService(security.Options, store, sp.GetRequiredService<AuditLog>(), loggerFactory,
                sp.GetRequiredService<TimeProvider>(), security.Jwt);
            var log = loggerFactory.CreateLogger("Gatehouse.Security");
            var identities = service.Identities.All.Count;
            log.Log(security.Options.AllowAnonymous == false ? LogLevel.Information : LogLevel.Warning,
                "Security: {Policy}; {Identities} identities, {Rules} ACL rules{Mtls}",
                AnonymousPolicy.Describe(security.Options.AllowAnonymous), identities, service.Authorizer.Rules.Count,
                security.ClientCertificates is null ? "" : "; TLS listeners require client certificates");
            return service;
        });
    }

    private static IBrokerStore CreateStore(HostPlan plan, ILoggerFactory loggerFactory)
    {
        if (plan.Server.Storage == StorageKind.Memory) return new MemoryBrokerStore();
        plan.Storage.DataDirectory = plan.DataDirectory;
        try
        {
            return SqliteBrokerStore.Open(plan.Storage, loggerFactory.CreateLogger("Gatehouse.Storage"));
        }
        catch (Exception ex) when (ex is StoreFormatException or StoreUnavailableException)
        {
            // An unknown format or a damaged file stops start-up with one line; the file is left as it is.
            throw new SettingsException(SettingsException.OneLine(ex.Message), ex);
        }
    }

    private SettingsException TranslateBindFailure(IOException ex)
    {
        var error = ex.InnerException is SocketException socketError ? socketError.SocketErrorCode : SocketError.AddressAlreadyInUse;
        // Kestrel's message names the endpoint: "Failed to bind to address http://127.0.0.1:1883: address already in use."
        var listener = _plan.Listeners.FirstOrDefault(l => ex.Message.Contains($":{l.Port}:", StringComparison.Ordinal));
        return listener is null
            ? new SettingsException($"cannot bind a listener: {SettingsException.OneLine(ex.Message)}", ex)
            : PortProbe.BindFailure(listener, new IPEndPoint(_plan.BindAddress, listener.Port), error, ex.Message, ex);
    }
}
