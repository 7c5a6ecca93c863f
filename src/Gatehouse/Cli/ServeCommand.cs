using System.CommandLine;
using Gatehouse.Broker;
using Gatehouse.Hosting;
using Gatehouse.Security;
using Gatehouse.Storage.Embedded;

namespace Gatehouse.Cli;

/// <summary><c>gatehouse serve</c>: runs the broker until SIGINT/SIGTERM.</summary>
internal static class ServeCommand
{
    private const string Description =
        "Run the broker: MQTT over TCP, TLS and WebSocket (/mqtt), and the HTTP endpoint (/healthz).";

    public const string HelpSection = """
        Configuration:
          Every key of appsettings.json can also be set on the command line as --Section:Key=value
          (e.g. --Broker:MaxConnections=5000) or in the environment as GATEHOUSE_Section__Key
          (e.g. GATEHOUSE_Broker__MaxConnections=5000). Precedence, lowest first: appsettings.json,
          --config FILE, environment, command line. Port 0 disables a listener.

        """;

    private static readonly (string Name, string Key, string HelpName, string Description)[] s_flags =
    [
        ("--mqtt-port", SettingNames.MqttPort, "N", "MQTT over TCP port [default: 1883]"),
        ("--ws-port", SettingNames.WsPort, "N", "MQTT over WebSocket port, path /mqtt [default: 8083]"),
        ("--tls-port", SettingNames.TlsPort, "N", "MQTT over TLS port, with --tls-cert only [default: 8883]"),
        ("--wss-port", SettingNames.WssPort, "N", "MQTT over secure WebSocket port, with --tls-cert only [default: 8084]"),
        ("--http-port", SettingNames.HttpPort, "N", "HTTP port: /healthz [default: 8080]"),
        ("--bind", SettingNames.Bind, "ADDRESS", "IP address to listen on [default: 0.0.0.0]"),
        ("--data-dir", SettingNames.DataDir, "DIR", "Data directory, created if missing [default: ./data]"),
        ("--storage", SettingNames.Storage, "memory|sqlite", "Where sessions and retained messages live [default: sqlite]"),
        ("--max-keep-alive", SettingNames.MaxKeepAlive, "S", "Upper bound for client keep-alive in seconds; 0 = no bound [default: 0]"),
        ("--max-packet-size", SettingNames.MaxPacketSize, "BYTES", "Largest packet accepted from a client [default: 1048576]"),
        ("--tls-cert", SettingNames.TlsCertificate, "PEM_OR_PFX", "Server certificate: PEM (key inside or in --tls-key) or PFX; enables TLS listeners"),
        ("--tls-key", SettingNames.TlsKey, "PEM", "Private key of a PEM --tls-cert"),
        ("--allow-anonymous", SettingNames.AllowAnonymous, "true|false", "Accept clients without credentials [default: only on loopback connections]"),
        ("--acl-file", SettingNames.AclFile, "FILE", "Topic ACLs in Mosquitto acl_file format; reloaded when it changes"),
        ("--jwt-key", SettingNames.JwtKey, "FILE", "Key for JWTs passed as the MQTT password: PEM public key (RS256/ES256) or HS256 secret"),
        ("--tls-client-ca", SettingNames.TlsClientCa, "PEM", "CA certificates: TLS listeners require client certificates issued by them (mTLS)"),
        ("--tls-crl", SettingNames.TlsCrl, "FILE", "Certificate revocation list for client certificates; reloaded when it changes"),
    ];

    /// <param name="overrides">--Section:Key=value pairs taken from the command line before parsing.</param>
    public static Command Create(IReadOnlyDictionary<string, string?> overrides)
    {
        var command = new Command("serve", Description);

        var flags = new List<(Option<string> Option, string Key)>();
        foreach (var (name, key, helpName, description) in s_flags)
        {
            var option = new Option<string>(name) { Description = description, HelpName = helpName };
            command.Options.Add(option);
            flags.Add((option, key));
        }
        var config = new Option<string>("--config")
        {
            Description = "JSON file with the same keys as appsettings.json; overrides it",
            HelpName = "FILE",
        };
        command.Options.Add(config);

        command.SetAction((parse, cancellationToken) => RunAsync(
            parse.GetValue(config),
            overrides,
            flags.ToDictionary(f => f.Key, f => parse.GetValue(f.Option), StringComparer.OrdinalIgnoreCase),
            cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(
        string? configFile,
        IReadOnlyDictionary<string, string?> overrides,
        Dictionary<string, string?> flags,
        CancellationToken cancellationToken)
    {
        // Runs while the settings are read and the store opens; awaited before the listeners accept anyone.
        var compiling = ConnectionPathCompiler.StartAsync();
        try
        {
            var configuration = GatehouseConfiguration.Build(new GatehouseConfiguration.Inputs
            {
                ConfigFile = configFile,
                Overrides = overrides,
                Flags = flags,
            });
            var server = SettingsBinder.Bind<ServerSettings>(configuration, ServerSettings.SectionName);
            var broker = SettingsBinder.Bind<BrokerOptions>(configuration, "Broker");
            var storage = SettingsBinder.Bind<SqliteStoreOptions>(configuration, "Storage");
            var security = SettingsBinder.Bind<SecurityOptions>(configuration, SecurityOptions.SectionName);
            var plan = HostPlan.Create(server, broker, storage) with { Security = SecurityPlan.Create(security) };
            PortProbe.EnsureAvailable(plan.BindAddress, plan.Listeners);

            await using var host = GatehouseHost.Create(plan, configuration);
            await compiling;
            await host.StartAsync(cancellationToken);

            var stdout = Console.Out;
            foreach (var (listener, endPoint) in host.BoundListeners)
                stdout.WriteLine($"gatehouse: {listener.Name} listening on {endPoint}{listener.Suffix}");
            stdout.WriteLine("gatehouse: ready");

            await host.WaitForShutdownAsync(cancellationToken);
            stdout.WriteLine("gatehouse: stopped");
            return 0;
        }
        catch (SettingsException ex)
        {
            GatehouseCli.WriteError(ex.Message);
            return GatehouseCli.Failure;
        }
    }
}
