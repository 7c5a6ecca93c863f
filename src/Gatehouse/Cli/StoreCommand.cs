using System.CommandLine;
using System.Globalization;
using Gatehouse.Storage;
using Gatehouse.Storage.Embedded;

namespace Gatehouse.Cli;

/// <summary>
/// <c>gatehouse store stats|check|compact --data-dir DIR</c>: inspect, verify and compact the embedded store.
/// stats and check read beside a running server; compact is refused while one holds the directory.
/// </summary>
internal static class StoreCommand
{
    private const string Description = "Inspect, verify and compact the embedded SQLite store (--storage sqlite).";

    public static Command Create()
    {
        var command = new Command("store", Description);
        command.Subcommands.Add(Subcommand("stats",
            "Counts (sessions, subscriptions, messages, deliveries, retained, incoming QoS 2), file sizes and format version.", Stats));
        command.Subcommands.Add(Subcommand("check",
            "Integrity check plus the store's own invariants; exits with 1 and lists the problems if there are any.", Check));
        command.Subcommands.Add(Subcommand("compact",
            "Checkpoint the log and VACUUM the database (only while no server uses the data directory).", Compact));
        return command;
    }

    private static Command Subcommand(string name, string description, Func<string, int> run)
    {
        var command = new Command(name, description);
        var dataDir = new Option<string>("--data-dir")
        {
            Description = "Data directory of the store [default: ./data]",
            HelpName = "DIR",
            DefaultValueFactory = _ => "./data",
        };
        command.Options.Add(dataDir);
        command.SetAction(parse =>
        {
            try
            {
                return run(parse.GetValue(dataDir)!);
            }
            catch (Exception ex) when (ex is StoreFormatException or StoreUnavailableException or IOException or UnauthorizedAccessException)
            {
                GatehouseCli.WriteError(ex.Message);
                return GatehouseCli.Failure;
            }
        });
        return command;
    }

    private static int Stats(string dataDir)
    {
        var s = SqliteStoreMaintenance.Statistics(dataDir);
        var output = Console.Out;
        output.WriteLine($"store: {s.DatabasePath}");
        output.WriteLine($"format version: {s.FormatVersion}");
        output.WriteLine($"sessions: {s.Sessions}");
        output.WriteLine($"subscriptions: {s.Subscriptions}");
        output.WriteLine($"messages: {s.Messages}");
        output.WriteLine($"deliveries: {s.Deliveries} ({s.InFlight} in flight)");
        output.WriteLine($"retained: {s.Retained}");
        output.WriteLine($"incoming qos2: {s.IncomingQoS2}");
        output.WriteLine($"database bytes: {s.DatabaseBytes} ({Mib(s.DatabaseBytes)} MiB, {s.FreePages} free pages of {s.PageSize} bytes)");
        output.WriteLine($"log bytes: {s.WalBytes} ({Mib(s.WalBytes)} MiB)");
        return 0;
    }

    private static int Check(string dataDir)
    {
        var problems = SqliteStoreMaintenance.Check(dataDir);
        if (problems.Count == 0)
        {
            Console.Out.WriteLine("store: ok");
            return 0;
        }
        foreach (var problem in problems) Console.Out.WriteLine("problem: " + problem);
        GatehouseCli.WriteError($"the store in {Path.GetFullPath(dataDir)} has {problems.Count} problem(s); see above");
        return GatehouseCli.Failure;
    }

    private static int Compact(string dataDir)
    {
        var (before, after) = SqliteStoreMaintenance.Compact(dataDir);
        Console.Out.WriteLine($"store: compacted {before} bytes to {after} bytes ({Mib(before)} MiB to {Mib(after)} MiB)");
        return 0;
    }

    private static string Mib(long bytes) => (bytes / (1024.0 * 1024)).ToString("0.0", CultureInfo.InvariantCulture);
}
