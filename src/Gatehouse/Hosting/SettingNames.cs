namespace Gatehouse.Hosting;

/// <summary>
/// Configuration keys that have a dedicated command-line flag, so that error messages name both
/// ("--mqtt-port (Server:MqttPort)") whichever source the bad value came from.
/// </summary>
public static class SettingNames
{
    public const string Bind = "Server:Bind";
    public const string MqttPort = "Server:MqttPort";
    public const string WsPort = "Server:WsPort";
    public const string TlsPort = "Server:TlsPort";
    public const string WssPort = "Server:WssPort";
    public const string HttpPort = "Server:HttpPort";
    public const string DataDir = "Server:DataDir";
    public const string Storage = "Server:Storage";
    public const string TlsCertificate = "Server:Tls:Certificate";
    public const string TlsKey = "Server:Tls:Key";
    public const string TlsPassword = "Server:Tls:Password";
    public const string MaxKeepAlive = "Broker:MaxKeepAliveSeconds";
    public const string MaxPacketSize = "Broker:MaxPacketSize";
    public const string AllowAnonymous = "Security:AllowAnonymous";
    public const string AclFile = "Security:AclFile";
    public const string JwtKey = "Security:JwtKey";
    public const string TlsClientCa = "Security:TlsClientCa";
    public const string TlsCrl = "Security:TlsCrl";

    private static readonly Dictionary<string, string> s_flags = new(StringComparer.OrdinalIgnoreCase)
    {
        [Bind] = "--bind",
        [MqttPort] = "--mqtt-port",
        [WsPort] = "--ws-port",
        [TlsPort] = "--tls-port",
        [WssPort] = "--wss-port",
        [HttpPort] = "--http-port",
        [DataDir] = "--data-dir",
        [Storage] = "--storage",
        [TlsCertificate] = "--tls-cert",
        [TlsKey] = "--tls-key",
        [MaxKeepAlive] = "--max-keep-alive",
        [MaxPacketSize] = "--max-packet-size",
        [AllowAnonymous] = "--allow-anonymous",
        [AclFile] = "--acl-file",
        [JwtKey] = "--jwt-key",
        [TlsClientCa] = "--tls-client-ca",
        [TlsCrl] = "--tls-crl",
    };

    /// <summary>The flag for a configuration key, or null.</summary>
    public static string? FlagFor(string key) => s_flags.GetValueOrDefault(key);

    /// <summary>"--mqtt-port (Server:MqttPort)" or just the key.</summary>
    public static string Describe(string key) => FlagFor(key) is { } flag ? $"{flag} ({key})" : key;
}
