using Gatehouse.Broker;
using Gatehouse.Hosting;

namespace Gatehouse.Host.Tests.Hosting;

public sealed class SettingsValidatorTests
{
    private static string Error(ServerSettings? server = null, BrokerOptions? broker = null)
        => Assert.Throws<SettingsException>(() => SettingsValidator.Validate(server ?? new ServerSettings(), broker ?? new BrokerOptions())).Message;

    [Fact]
    public void Defaults_are_valid() => SettingsValidator.Validate(new ServerSettings(), new BrokerOptions());

    [Fact]
    public void Tls_ports_may_collide_with_others_while_tls_is_off()
        => SettingsValidator.Validate(new ServerSettings { TlsPort = 1883, WssPort = 8080 }, new BrokerOptions());

    [Fact]
    public void Tls_ports_must_be_distinct_once_tls_is_on()
        => Assert.Equal(
            "--mqtt-port and --tls-port are both 1883; each listener needs its own port",
            Error(new ServerSettings { TlsPort = 1883, Tls = { Certificate = "x.pem" } }));

    [Fact]
    public void Disabled_listeners_may_share_port_zero()
        => SettingsValidator.Validate(new ServerSettings { WsPort = 0, HttpPort = 0 }, new BrokerOptions());

    [Theory]
    [InlineData(-1)]
    [InlineData(100_001)]
    public void Idle_poll_out_of_range_is_refused(int microseconds)
        => Assert.Equal($"Server:IdlePollMicroseconds must be 0-100000, got {microseconds}",
            Error(new ServerSettings { IdlePollMicroseconds = microseconds }));

    [Fact]
    public void Every_negative_broker_limit_is_refused()
        => Assert.Equal("Broker:MaxQueuedBytes must not be negative, got -1", Error(broker: new BrokerOptions { MaxQueuedBytes = -1 }));

    [Theory]
    [InlineData(nameof(BrokerOptions.MaxConnections))]
    [InlineData(nameof(BrokerOptions.ReceiveMaximum))]
    [InlineData(nameof(BrokerOptions.MaxPacketSize))]
    [InlineData(nameof(BrokerOptions.MaxTopicLevels))]
    public void Limits_that_cannot_be_zero_are_refused_at_zero(string property)
    {
        var broker = new BrokerOptions();
        var info = typeof(BrokerOptions).GetProperty(property)!;
        info.SetValue(broker, Convert.ChangeType(0, info.PropertyType, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains($"Broker:{property}", Error(broker: broker), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    [InlineData("localhost")]
    public void Bind_accepts_ip_addresses_and_localhost(string bind) => SettingsValidator.ParseBindAddress(bind);

    [Fact]
    public void Host_plan_needs_an_mqtt_listener()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "gatehouse-host-tests", Guid.NewGuid().ToString("N"));
        var error = Assert.Throws<SettingsException>(() => HostPlan.Create(
            new ServerSettings { MqttPort = 0, WsPort = 0, DataDir = dataDir }, new BrokerOptions()));
        Assert.StartsWith("no MQTT listener is enabled", error.Message, StringComparison.Ordinal);
        Directory.Delete(dataDir);
    }

    [Fact]
    public void Host_plan_creates_the_data_directory_and_orders_listeners()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "gatehouse-host-tests", Guid.NewGuid().ToString("N"), "nested");
        var plan = HostPlan.Create(new ServerSettings { DataDir = dataDir, Tls = { Certificate = Infrastructure.TestCertificate.Shared.CombinedPem } }, new BrokerOptions());

        Assert.True(Directory.Exists(dataDir));
        Assert.Equal(["mqtt", "mqtt-tls", "mqtt-ws", "mqtt-wss", "http"], plan.Listeners.Select(l => l.Name));
        Directory.Delete(Path.GetDirectoryName(dataDir)!, recursive: true);
    }
}
