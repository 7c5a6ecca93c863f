using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using Gatehouse.Hosting;

namespace Gatehouse.Cli;

/// <summary>
/// Entry point of the <c>gatehouse</c> command line: one file per command in this folder. Errors are reported as
/// a single line, <c>gatehouse: error: reason</c>, on stderr; usage errors exit with 2, anything else with 1.
/// </summary>
internal static class GatehouseCli
{
    public const int UsageError = 2;
    public const int Failure = 1;

    public static async Task<int> RunAsync(string[] args)
    {
        // --Section:Key=value configuration overrides are taken out first: System.CommandLine cannot declare them.
        Dictionary<string, string?> overrides;
        try
        {
            overrides = GatehouseConfiguration.ExtractOverrides(args, out args);
        }
        catch (SettingsException ex)
        {
            WriteError(ex.Message);
            return UsageError;
        }

        var root = new RootCommand("Gatehouse: an MQTT 3.1.1 and 5.0 broker and IoT device hub.");
        var serve = ServeCommand.Create(overrides);
        root.Subcommands.Add(serve);
        root.Subcommands.Add(StoreCommand.Create());
        root.Subcommands.Add(IdentitiesCommand.Create());
        root.Subcommands.Add(AclCommand.Create());
        root.Subcommands.Add(AuditCommand.Create());
        var bench = BenchCommand.Create();
        root.Subcommands.Add(bench);
        AddHelpSections(root, new Dictionary<Command, string> { [serve] = ServeCommand.HelpSection, [bench] = BenchCommand.HelpSection });

        var parse = root.Parse(args.Length == 0 ? ["--help"] : args);
        if (parse.Errors.Count > 0)
        {
            WriteError(string.Join("; ", parse.Errors.Select(e => e.Message.TrimEnd('.'))) + " (see 'gatehouse --help')");
            return UsageError;
        }

        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration
            {
                // The generic host handles SIGINT/SIGTERM (graceful shutdown); System.CommandLine must not.
                ProcessTerminationTimeout = null,
                EnableDefaultExceptionHandler = false,
            });
        }
        catch (Exception ex)
        {
            WriteError($"{ex.GetType().Name}: {ex.Message}");
            return Failure;
        }
    }

    public static void WriteError(string message)
        => Console.Error.WriteLine("gatehouse: error: " + message.ReplaceLineEndings(" ").Trim());

    /// <summary>Appends a free-text section to a command's --help output.</summary>
    private static void AddHelpSections(RootCommand root, Dictionary<Command, string> sections)
    {
        var help = root.Options.OfType<HelpOption>().Single();
        if (help.Action is SynchronousCommandLineAction standard)
            help.Action = new HelpWithSections(standard, sections);
    }

    private sealed class HelpWithSections(SynchronousCommandLineAction standard, Dictionary<Command, string> sections)
        : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            var result = standard.Invoke(parseResult);
            if (sections.TryGetValue(parseResult.CommandResult.Command, out var text))
                parseResult.InvocationConfiguration.Output.WriteLine(text);
            return result;
        }
    }
}
