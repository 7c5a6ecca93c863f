using System.Text.Json;
using Microsoft.Extensions.Configuration;

namespace Gatehouse.Hosting;

/// <summary>
/// Builds the configuration with the documented precedence, lowest first: built-in defaults, appsettings.json
/// beside the executable, the --config file, GATEHOUSE_-prefixed environment variables
/// (GATEHOUSE_Broker__MaxConnections), command-line overrides (--Broker:MaxConnections=5), dedicated flags
/// (--mqtt-port).
/// </summary>
public static class GatehouseConfiguration
{
    public const string EnvironmentPrefix = "GATEHOUSE_";
    public const string AppSettingsFileName = "appsettings.json";

    /// <summary>Top-level sections a command-line override may name; catches typos such as --Brokr:X=1.</summary>
    public static IReadOnlyList<string> KnownSections { get; } = [ServerSettings.SectionName, "Broker", "Storage", "Security", "Logging"];

    /// <summary>Defaults that live in no options class: quiet framework logs, broker logs at Information.</summary>
    private static readonly Dictionary<string, string?> s_defaults = new()
    {
        ["Logging:LogLevel:Default"] = "Information",
        ["Logging:LogLevel:Microsoft"] = "Warning",
    };

    public sealed record Inputs
    {
        /// <summary>--config FILE, or null.</summary>
        public string? ConfigFile { get; init; }

        /// <summary>Key/value pairs from --Section:Key=value tokens.</summary>
        public IReadOnlyDictionary<string, string?> Overrides { get; init; } = new Dictionary<string, string?>();

        /// <summary>Values of the dedicated flags, keyed by configuration key.</summary>
        public IReadOnlyDictionary<string, string?> Flags { get; init; } = new Dictionary<string, string?>();

        /// <summary>Where appsettings.json is looked for; the executable's directory by default.</summary>
        public string BaseDirectory { get; init; } = AppContext.BaseDirectory;

        public bool IncludeEnvironment { get; init; } = true;
    }

    public static IConfigurationRoot Build(Inputs inputs)
    {
        var builder = new ConfigurationBuilder()
            .AddInMemoryCollection(s_defaults)
            .AddJsonFile(Path.Combine(inputs.BaseDirectory, AppSettingsFileName), optional: true, reloadOnChange: false);

        string? configPath = null;
        if (!string.IsNullOrEmpty(inputs.ConfigFile))
        {
            configPath = Path.GetFullPath(inputs.ConfigFile);
            if (!File.Exists(configPath))
                throw new SettingsException($"config file not found: {inputs.ConfigFile}");
            builder.AddJsonFile(configPath, optional: false, reloadOnChange: false);
        }

        if (inputs.IncludeEnvironment)
            builder.AddEnvironmentVariables(EnvironmentPrefix);

        builder.AddInMemoryCollection(inputs.Overrides);
        builder.AddInMemoryCollection(inputs.Flags.Where(kv => kv.Value is not null));

        try
        {
            return builder.Build();
        }
        catch (Exception ex) when (ex is FormatException or InvalidDataException or JsonException or IOException)
        {
            var reason = ex.GetBaseException().Message;
            var file = configPath ?? Path.Combine(inputs.BaseDirectory, AppSettingsFileName);
            throw new SettingsException($"cannot read {file}: {SettingsException.OneLine(reason)}", ex);
        }
    }

    /// <summary>
    /// Takes the configuration overrides out of the raw arguments: <c>--Section:Key=value</c> and
    /// <c>--Section:Key value</c>, where Section is one of <see cref="KnownSections"/>. Everything else is left in
    /// <paramref name="remaining"/> for the command-line parser (so <c>--config:file.json</c> still reaches it).
    /// </summary>
    public static Dictionary<string, string?> ExtractOverrides(IReadOnlyList<string> args, out string[] remaining)
    {
        var overrides = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var rest = new List<string>(args.Count);
        for (var i = 0; i < args.Count; i++)
        {
            var token = args[i];
            if (token == "--")
            {
                rest.AddRange(args.Skip(i));
                break;
            }
            if (!token.StartsWith("--", StringComparison.Ordinal))
            {
                rest.Add(token);
                continue;
            }

            var body = token[2..];
            var equals = body.IndexOf('=', StringComparison.Ordinal);
            var key = equals >= 0 ? body[..equals] : body;
            var colon = key.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0 || !KnownSections.Contains(key[..colon], StringComparer.OrdinalIgnoreCase))
            {
                rest.Add(token);
                continue;
            }

            if (key.Split(':').Any(string.IsNullOrWhiteSpace))
                throw new SettingsException($"malformed configuration key in '{token}'");

            string value;
            if (equals >= 0)
            {
                value = body[(equals + 1)..];
            }
            else
            {
                if (i + 1 >= args.Count || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                    throw new SettingsException($"missing value for '{token}'");
                value = args[++i];
            }
            overrides[key] = value;
        }
        remaining = [.. rest];
        return overrides;
    }
}
