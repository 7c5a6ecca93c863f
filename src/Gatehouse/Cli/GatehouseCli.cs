using System.CommandLine;

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
        var root = new RootCommand("Gatehouse: an MQTT 3.1.1 and 5.0 broker and IoT device hub.");
        root.Subcommands.Add(ServeCommand.Create());

        var parse = root.Parse(args.Length == 0 ? ["--help"] : args);
        if (parse.Errors.Count > 0)
        {
            WriteError(parse.Errors[0].Message + " (see 'gatehouse --help')");
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
}
