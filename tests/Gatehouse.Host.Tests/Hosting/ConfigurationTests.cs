using System.Reflection;
using System.Text.Json;
using Gatehouse.Broker;
using Gatehouse.Hosting;

namespace Gatehouse.Host.Tests.Hosting;

public sealed class ConfigurationTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "gatehouse-host-tests", "config-" + Guid.NewGuid().ToString("N"));

    public ConfigurationTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Write(string name, string json)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void Sources_apply_in_order_appsettings_config_file_overrides_flags()
    {
        Write("appsettings.json", """{ "Server": { "MqttPort": 1, "WsPort": 1, "HttpPort": 1, "TlsPort": 1 } }""");
        var configFile = Write("extra.json", """{ "Server": { "WsPort": 2, "HttpPort": 2, "TlsPort": 2 } }""");

        var configuration = GatehouseConfiguration.Build(new GatehouseConfiguration.Inputs
        {
            BaseDirectory = _directory,
            IncludeEnvironment = false,
            ConfigFile = configFile,
            Overrides = new Dictionary<string, string?> { ["Server:HttpPort"] = "3", ["Server:TlsPort"] = "3" },
            Flags = new Dictionary<string, string?> { [SettingNames.TlsPort] = "4", [SettingNames.MqttPort] = null },
        });
        var server = SettingsBinder.Bind<ServerSettings>(configuration, ServerSettings.SectionName);

        Assert.Equal(1, server.MqttPort);   // appsettings.json; a flag that was not given changes nothing
        Assert.Equal(2, server.WsPort);     // --config over appsettings.json
        Assert.Equal(3, server.HttpPort);   // --Server:HttpPort=3 over --config
        Assert.Equal(4, server.TlsPort);    // --tls-port over --Server:TlsPort
    }

    [Fact]
    public void Environment_sits_between_the_config_file_and_the_command_line()
    {
        // A key no other test reads, so setting it process-wide is harmless; child processes get it scrubbed.
        const string variable = "GATEHOUSE_Broker__OutboundTopicAliasMaximum";
        var configFile = Write("extra.json", """{ "Broker": { "OutboundTopicAliasMaximum": 2 } }""");
        Environment.SetEnvironmentVariable(variable, "3");
        try
        {
            BrokerOptions Bind(Dictionary<string, string?> overrides) => SettingsBinder.Bind<BrokerOptions>(
                GatehouseConfiguration.Build(new GatehouseConfiguration.Inputs
                {
                    BaseDirectory = _directory,
                    ConfigFile = configFile,
                    Overrides = overrides,
                }),
                "Broker");

            Assert.Equal(3, Bind([]).OutboundTopicAliasMaximum);
            Assert.Equal(4, Bind(new() { ["Broker:OutboundTopicAliasMaximum"] = "4" }).OutboundTopicAliasMaximum);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public void Overrides_are_taken_out_of_the_arguments_in_both_forms()
    {
        var overrides = GatehouseConfiguration.ExtractOverrides(
            ["serve", "--Broker:MaxConnections=5", "--mqtt-port", "1884", "--broker:MaxQueuedMessages", "7", "--config:x.json", "--Logging:LogLevel:Default=Debug"],
            out var remaining);

        Assert.Equal(["serve", "--mqtt-port", "1884", "--config:x.json"], remaining);
        Assert.Equal("5", overrides["Broker:MaxConnections"]);
        Assert.Equal("7", overrides["Broker:MaxQueuedMessages"]);
        Assert.Equal("Debug", overrides["Logging:LogLevel:Default"]);
    }

    [Theory]
    [InlineData("--Broker:MaxConnections")]
    [InlineData("--Broker::X=1")]
    public void Malformed_overrides_are_refused(string token)
        => Assert.Throws<SettingsException>(() => GatehouseConfiguration.ExtractOverrides([token], out _));

    [Fact]
    public void Binding_is_case_insensitive_and_reads_enums_by_name()
    {
        var configuration = GatehouseConfiguration.Build(new GatehouseConfiguration.Inputs
        {
            BaseDirectory = _directory,
            IncludeEnvironment = false,
            Overrides = new Dictionary<string, string?> { ["server:storage"] = "MEMORY", ["SERVER:TLS:CERTIFICATE"] = "a.pem" },
        });
        var server = SettingsBinder.Bind<ServerSettings>(configuration, ServerSettings.SectionName);

        Assert.Equal(StorageKind.Memory, server.Storage);
        Assert.Equal("a.pem", server.Tls.Certificate);
    }

    [Theory]
    [InlineData("Broker:MaxConnections", "many", "invalid value 'many' for Broker:MaxConnections: expected a whole number")]
    [InlineData("Broker:MaxPacketSize", "-1", "invalid value '-1' for --max-packet-size (Broker:MaxPacketSize): expected a whole number from 0 to 4294967295")]
    [InlineData("Broker:Unknown", "1", "unknown setting Broker:Unknown")]
    [InlineData("Server:Storage", "2", "invalid value '2' for --storage (Server:Storage): expected one of memory, sqlite")]
    public void Bad_values_are_reported_with_key_value_and_expectation(string key, string value, string message)
    {
        var configuration = GatehouseConfiguration.Build(new GatehouseConfiguration.Inputs
        {
            BaseDirectory = _directory,
            IncludeEnvironment = false,
            Overrides = new Dictionary<string, string?> { [key] = value },
        });

        var error = Assert.Throws<SettingsException>(() =>
        {
            SettingsBinder.Bind<ServerSettings>(configuration, ServerSettings.SectionName);
            SettingsBinder.Bind<BrokerOptions>(configuration, "Broker");
        });
        Assert.Equal(message, error.Message);
    }

    [Fact]
    public void Appsettings_json_carries_every_broker_option_with_its_default()
    {
        var root = Path.Combine(RepositoryRoot(), "src", "Gatehouse", "appsettings.json");
        using var document = JsonDocument.Parse(File.ReadAllText(root));
        var section = document.RootElement.GetProperty("Broker");
        var defaults = new BrokerOptions();

        foreach (var property in typeof(BrokerOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            Assert.True(section.TryGetProperty(property.Name, out var value), $"appsettings.json lacks Broker:{property.Name}");
            var bound = SettingsBinder.ConvertScalar(property.Name, value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText(), property.PropertyType);
            Assert.True(Equals(property.GetValue(defaults), bound), $"Broker:{property.Name} is {bound} in appsettings.json but {property.GetValue(defaults)} in BrokerOptions");
        }

        var server = document.RootElement.GetProperty("Server");
        var serverDefaults = new ServerSettings();
        Assert.Equal(serverDefaults.MqttPort, server.GetProperty("MqttPort").GetInt32());
        Assert.Equal(serverDefaults.WsPort, server.GetProperty("WsPort").GetInt32());
        Assert.Equal(serverDefaults.TlsPort, server.GetProperty("TlsPort").GetInt32());
        Assert.Equal(serverDefaults.WssPort, server.GetProperty("WssPort").GetInt32());
        Assert.Equal(serverDefaults.HttpPort, server.GetProperty("HttpPort").GetInt32());
        Assert.Equal(serverDefaults.Bind, server.GetProperty("Bind").GetString());
        Assert.Equal(serverDefaults.DataDir, server.GetProperty("DataDir").GetString());
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Gatehouse.slnx"))) return dir.FullName;
        }
        throw new DirectoryNotFoundException("repository root (Gatehouse.slnx) not found above " + AppContext.BaseDirectory);
    }
}
