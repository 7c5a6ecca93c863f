using System.Net;
using Gatehouse.Broker;
using Gatehouse.Storage.Embedded;
using Gatehouse.Transport.Tls;

namespace Gatehouse.Hosting;

public enum ListenerKind
{
    Mqtt,
    MqttTls,
    MqttWebSocket,
    MqttSecureWebSocket,
    Http,
}

/// <summary>One listener to open. <see cref="Name"/> is what the start-up line prints ("mqtt", "mqtt-ws", ...).</summary>
public sealed record ListenerSpec(string Name, ListenerKind Kind, int Port, string SettingKey)
{
    /// <summary>Printed after the bound address: the WebSocket path for WebSocket listeners.</summary>
    public string Suffix => Kind is ListenerKind.MqttWebSocket or ListenerKind.MqttSecureWebSocket ? "/mqtt" : "";
}

/// <summary>Validated settings plus what start-up prepared from them: what <see cref="GatehouseHost"/> runs.</summary>
public sealed record HostPlan(
    ServerSettings Server,
    BrokerOptions Broker,
    IPAddress BindAddress,
    string DataDirectory,
    ServerCertificate? Certificate,
    IReadOnlyList<ListenerSpec> Listeners,
    SqliteStoreOptions Storage)
{
    /// <summary>Authentication and authorization; null only for hosts composed without security (tests).</summary>
    public SecurityPlan? Security { get; init; }

    /// <summary>
    /// Validates <paramref name="server"/> and <paramref name="broker"/>, creates the data directory, loads the
    /// certificate and decides the listeners. Throws <see cref="SettingsException"/> on the first problem.
    /// </summary>
    public static HostPlan Create(ServerSettings server, BrokerOptions broker, SqliteStoreOptions? storage = null)
    {
        storage ??= new SqliteStoreOptions();
        if (storage.MaxBatchSize < 1) throw new SettingsException($"Storage:MaxBatchSize must be at least 1, got {storage.MaxBatchSize}");
        if (storage.FlushIntervalMs < 0) throw new SettingsException($"Storage:FlushIntervalMs must not be negative, got {storage.FlushIntervalMs}");
        if (storage.IdlePollMicroseconds < 0) throw new SettingsException($"Storage:IdlePollMicroseconds must not be negative, got {storage.IdlePollMicroseconds}");
        SettingsValidator.Validate(server, broker);
        var bindAddress = SettingsValidator.ParseBindAddress(server.Bind);

        var dataDirectory = Path.GetFullPath(server.DataDir);
        try
        {
            Directory.CreateDirectory(dataDirectory);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new SettingsException($"cannot create data directory {dataDirectory}: {SettingsException.OneLine(ex.Message)}", ex);
        }

        ServerCertificate? certificate = null;
        if (!string.IsNullOrEmpty(server.Tls.Certificate))
        {
            try
            {
                certificate = ServerCertificate.Load(
                    server.Tls.Certificate,
                    string.IsNullOrEmpty(server.Tls.Key) ? null : server.Tls.Key,
                    string.IsNullOrEmpty(server.Tls.Password) ? null : server.Tls.Password);
            }
            catch (CertificateLoadException ex)
            {
                throw new SettingsException(ex.Message, ex);
            }
        }

        var listeners = new List<ListenerSpec>();
        void Add(string name, ListenerKind kind, int port, string key)
        {
            if (port != 0)
                listeners.Add(new ListenerSpec(name, kind, port, key));
        }
        Add("mqtt", ListenerKind.Mqtt, server.MqttPort, SettingNames.MqttPort);
        if (certificate is not null)
            Add("mqtt-tls", ListenerKind.MqttTls, server.TlsPort, SettingNames.TlsPort);
        Add("mqtt-ws", ListenerKind.MqttWebSocket, server.WsPort, SettingNames.WsPort);
        if (certificate is not null)
            Add("mqtt-wss", ListenerKind.MqttSecureWebSocket, server.WssPort, SettingNames.WssPort);
        Add("http", ListenerKind.Http, server.HttpPort, SettingNames.HttpPort);

        if (listeners.TrueForAll(l => l.Kind == ListenerKind.Http))
            throw new SettingsException("no MQTT listener is enabled; set at least one of --mqtt-port, --ws-port (or --tls-port/--wss-port with --tls-cert) to a non-zero port");

        return new HostPlan(server, broker, bindAddress, dataDirectory, certificate, listeners, storage);
    }
}
