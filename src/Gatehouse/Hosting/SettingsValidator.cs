using System.Net;
using System.Reflection;
using Gatehouse.Broker;

namespace Gatehouse.Hosting;

/// <summary>Range and consistency checks on the bound settings. Pure: no file system, no sockets.</summary>
public static class SettingsValidator
{
    /// <summary>Largest packet MQTT can express: 268,435,455 bytes of remaining length plus a 5-byte fixed header.</summary>
    public const uint MaxMqttPacketSize = 268_435_460;

    public static void Validate(ServerSettings server, BrokerOptions broker)
    {
        ValidateServer(server);
        ValidateBroker(broker);
    }

    public static IPAddress ParseBindAddress(string bind)
    {
        if (string.Equals(bind, "localhost", StringComparison.OrdinalIgnoreCase))
            return IPAddress.Loopback;
        return IPAddress.TryParse(bind, out var address)
            ? address
            : throw new SettingsException($"invalid value '{bind}' for {SettingNames.Describe(SettingNames.Bind)}: expected an IP address such as 0.0.0.0, :: or 127.0.0.1");
    }

    private static void ValidateServer(ServerSettings server)
    {
        ParseBindAddress(server.Bind);

        var ports = new (string Key, int Port)[]
        {
            (SettingNames.MqttPort, server.MqttPort),
            (SettingNames.TlsPort, server.TlsPort),
            (SettingNames.WsPort, server.WsPort),
            (SettingNames.WssPort, server.WssPort),
            (SettingNames.HttpPort, server.HttpPort),
        };
        foreach (var (key, port) in ports)
        {
            if (port is < 0 or > 65535)
                throw new SettingsException($"port {port} out of range for {SettingNames.Describe(key)}: expected 1-65535, or 0 to disable the listener");
        }

        var tlsEnabled = !string.IsNullOrEmpty(server.Tls.Certificate);
        var active = ports.Where(p => p.Port != 0 && (tlsEnabled || (p.Key != SettingNames.TlsPort && p.Key != SettingNames.WssPort))).ToList();
        foreach (var clash in active.GroupBy(p => p.Port).Where(g => g.Count() > 1))
        {
            var names = string.Join(" and ", clash.Select(p => SettingNames.FlagFor(p.Key)));
            throw new SettingsException($"{names} are both {clash.Key}; each listener needs its own port");
        }

        if (string.IsNullOrWhiteSpace(server.DataDir))
            throw new SettingsException($"{SettingNames.Describe(SettingNames.DataDir)} must not be empty");

        if (server.IdlePollMicroseconds is < 0 or > 100_000)
            throw new SettingsException($"Server:IdlePollMicroseconds must be 0-100000, got {server.IdlePollMicroseconds}");
        if (server.ShutdownTimeoutSeconds is < 1 or > 3600)
            throw new SettingsException($"Server:ShutdownTimeoutSeconds must be 1-3600, got {server.ShutdownTimeoutSeconds}");

        if (!tlsEnabled && !string.IsNullOrEmpty(server.Tls.Key))
            throw new SettingsException($"{SettingNames.Describe(SettingNames.TlsKey)} is given without {SettingNames.Describe(SettingNames.TlsCertificate)}");
    }

    private static void ValidateBroker(BrokerOptions broker)
    {
        // Every numeric limit: no negatives, including ones added to BrokerOptions later.
        foreach (var property in typeof(BrokerOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var value = property.GetValue(broker);
            var negative = value switch
            {
                int i => i < 0,
                long l => l < 0,
                short s => s < 0,
                sbyte b => b < 0,
                double d => d < 0,
                decimal m => m < 0,
                TimeSpan t => t < TimeSpan.Zero,
                _ => false,
            };
            if (negative)
                throw new SettingsException($"{SettingNames.Describe("Broker:" + property.Name)} must not be negative, got {value}");
        }

        AtLeast(nameof(BrokerOptions.MaxConnections), broker.MaxConnections, 1);
        AtLeast(nameof(BrokerOptions.ConnectTimeoutSeconds), broker.ConnectTimeoutSeconds, 1);
        AtLeast(nameof(BrokerOptions.ReceiveMaximum), broker.ReceiveMaximum, 1); // a Receive Maximum of 0 is a protocol error (MQTT 5 §3.2.2.3.3)
        AtLeast(nameof(BrokerOptions.MaxInflightMessages), broker.MaxInflightMessages, 1);
        AtLeast(nameof(BrokerOptions.MaxTopicLevels), broker.MaxTopicLevels, 1);
        AtLeast(nameof(BrokerOptions.MaxTopicLength), broker.MaxTopicLength, 1);
        AtMost(nameof(BrokerOptions.MaxTopicLength), broker.MaxTopicLength, 65_535);

        // Maximum Packet Size 0 is a protocol error; beyond 268,435,460 nothing can be encoded.
        AtLeast(nameof(BrokerOptions.MaxPacketSize), broker.MaxPacketSize, 1);
        AtMost(nameof(BrokerOptions.MaxPacketSize), broker.MaxPacketSize, MaxMqttPacketSize);
    }

    private static void AtLeast(string property, long value, long minimum)
    {
        if (value < minimum)
            throw new SettingsException($"{SettingNames.Describe("Broker:" + property)} must be at least {minimum}, got {value}");
    }

    private static void AtMost(string property, long value, long maximum)
    {
        if (value > maximum)
            throw new SettingsException($"{SettingNames.Describe("Broker:" + property)} must be at most {maximum}, got {value}");
    }
}
