using System.CommandLine;
using Gatehouse.Security.Identities;

namespace Gatehouse.Cli;

/// <summary>
/// <c>gatehouse identities add|list|show|disable|enable|remove|passwd</c>: edits security.db in the data directory. A
/// running server on the same directory picks the change up within its reload interval (0.5 s); disabling or removing
/// an identity, or changing its password or certificates, disconnects its live clients.
/// </summary>
internal static class IdentitiesCommand
{
    public static Command Create()
    {
        var command = new Command("identities", "Manage device and user identities (security.db in the data directory).");
        command.Subcommands.Add(Add());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Show());
        command.Subcommands.Add(SetEnabled("disable", enabled: false));
        command.Subcommands.Add(SetEnabled("enable", enabled: true));
        command.Subcommands.Add(Remove());
        command.Subcommands.Add(Passwd());
        return command;
    }

    internal static Option<string> DataDirOption() => new("--data-dir")
    {
        Description = "Data directory of the server [default: ./data]",
        HelpName = "DIR",
        DefaultValueFactory = _ => "./data",
    };

    private static Option<int> IterationsOption() => new("--iterations")
    {
        Description = $"PBKDF2-SHA256 iterations for the new hash [default: {PasswordHasher.DefaultIterations}]",
        HelpName = "N",
        DefaultValueFactory = _ => PasswordHasher.DefaultIterations,
    };

    private static Command Add()
    {
        var name = new Argument<string>("NAME") { Description = "Identity name (also the MQTT user name)" };
        var password = new Option<string>("--password") { Description = "Password (stored as a salted PBKDF2 hash)", HelpName = "P" };
        var thumbprints = new Option<string[]>("--cert-thumbprint") { Description = "Client certificate SHA-1 or SHA-256 thumbprint (repeatable)", HelpName = "T" };
        var groups = new Option<string[]>("--group") { Description = "Group (repeatable)", HelpName = "G" };
        var metadata = new Option<string[]>("--meta") { Description = "Metadata KEY=VALUE (repeatable)", HelpName = "KEY=VALUE" };
        var disabled = new Option<bool>("--disabled") { Description = "Create the identity disabled" };
        var dataDir = DataDirOption();
        var iterations = IterationsOption();
        var command = new Command("add", "Add an identity (or replace one with the same name).") { name, password, thumbprints, groups, metadata, disabled, dataDir, iterations };
        command.SetAction(parse => Run(parse.GetValue(dataDir)!, store =>
        {
            var identityName = parse.GetValue(name)!;
            if (!Identity.IsValidName(identityName)) return Fail($"invalid identity name '{identityName}' (1-128 characters, no '/', '+', '#', '$' or control characters)");
            var meta = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var pair in parse.GetValue(metadata) ?? [])
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                if (equals <= 0) return Fail($"--meta expects KEY=VALUE, got '{pair}'");
                meta[pair[..equals]] = pair[(equals + 1)..];
            }
            try
            {
                new Security.Quotas.LimitsOptions().WithOverrides(meta);
            }
            catch (FormatException ex)
            {
                return Fail(ex.Message);
            }
            var secret = parse.GetValue(password);
            var prints = (parse.GetValue(thumbprints) ?? []).Select(Identity.NormalizeThumbprint).ToList();
            if (prints.Any(p => p.Length is not (40 or 64))) return Fail("a certificate thumbprint is 40 (SHA-1) or 64 (SHA-256) hex digits");
            store.SaveIdentity(new Identity
            {
                Name = identityName,
                Enabled = !parse.GetValue(disabled),
                Groups = [.. (parse.GetValue(groups) ?? []).Distinct(StringComparer.Ordinal)],
                Metadata = meta,
                PasswordHash = string.IsNullOrEmpty(secret) ? null : PasswordHasher.Hash(secret, parse.GetValue(iterations)),
                // The SCRAM-SHA-256 keys (MQTT 5 enhanced authentication), with their own salt; never the password.
                ScramSha256 = string.IsNullOrEmpty(secret) ? null : ScramCredential.Derive(secret, parse.GetValue(iterations)).Encode(),
                CertificateThumbprints = prints,
            });
            Console.Out.WriteLine($"identity {identityName} saved");
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var dataDir = DataDirOption();
        var command = new Command("list", "List identities: name, state, groups, credentials.") { dataDir };
        command.SetAction(parse => Run(parse.GetValue(dataDir)!, store =>
        {
            foreach (var identity in store.ListIdentities()) Console.Out.WriteLine(Summary(identity));
            return 0;
        }));
        return command;
    }

    private static Command Show()
    {
        var name = new Argument<string>("NAME");
        var dataDir = DataDirOption();
        var command = new Command("show", "Show one identity.") { name, dataDir };
        command.SetAction(parse => Run(parse.GetValue(dataDir)!, store =>
        {
            if (store.FindIdentity(parse.GetValue(name)!) is not { } identity) return Fail($"no identity '{parse.GetValue(name)}'");
            Console.Out.WriteLine($"name: {identity.Name}");
            Console.Out.WriteLine($"enabled: {(identity.Enabled ? "yes" : "no")}");
            Console.Out.WriteLine($"groups: {string.Join(", ", identity.Groups)}");
            Console.Out.WriteLine($"password: {(identity.PasswordHash is null ? "none" : "set (" + identity.PasswordHash.Split('$')[0] + ", " + identity.PasswordHash.Split('$')[1] + " iterations)")}");
            Console.Out.WriteLine($"scram-sha-256: {(ScramCredential.TryParse(identity.ScramSha256) is { } scram ? $"set ({scram.Iterations} iterations)" : "none")}");
            foreach (var thumbprint in identity.CertificateThumbprints) Console.Out.WriteLine($"certificate: {thumbprint}");
            foreach (var (key, value) in identity.Metadata) Console.Out.WriteLine($"meta: {key}={value}");
            return 0;
        }));
        return command;
    }

    private static Command SetEnabled(string verb, bool enabled)
    {
        var name = new Argument<string>("NAME");
        var dataDir = DataDirOption();
        var command = new Command(verb, enabled ? "Enable an identity." : "Disable an identity: its clients are disconnected and refused.") { name, dataDir };
        command.SetAction(parse => Run(parse.GetValue(dataDir)!, store =>
        {
            if (store.FindIdentity(parse.GetValue(name)!) is not { } identity) return Fail($"no identity '{parse.GetValue(name)}'");
            store.SaveIdentity(identity with { Enabled = enabled });
            Console.Out.WriteLine($"identity {identity.Name} {verb}d");
            return 0;
        }));
        return command;
    }

    private static Command Remove()
    {
        var name = new Argument<string>("NAME");
        var dataDir = DataDirOption();
        var command = new Command("remove", "Remove an identity: its clients are disconnected.") { name, dataDir };
        command.SetAction(parse => Run(parse.GetValue(dataDir)!, store =>
        {
            if (!store.RemoveIdentity(parse.GetValue(name)!)) return Fail($"no identity '{parse.GetValue(name)}'");
            Console.Out.WriteLine($"identity {parse.GetValue(name)} removed");
            return 0;
        }));
        return command;
    }

    private static Command Passwd()
    {
        var name = new Argument<string>("NAME");
        var password = new Option<string>("--password") { Description = "New password; read from stdin when omitted", HelpName = "P" };
        var dataDir = DataDirOption();
        var iterations = IterationsOption();
        var command = new Command("passwd", "Set an identity's password: its connected clients are disconnected.") { name, password, dataDir, iterations };
        command.SetAction(parse => Run(parse.GetValue(dataDir)!, store =>
        {
            if (store.FindIdentity(parse.GetValue(name)!) is not { } identity) return Fail($"no identity '{parse.GetValue(name)}'");
            var secret = parse.GetValue(password) ?? Console.In.ReadLine();
            if (string.IsNullOrEmpty(secret)) return Fail("empty password");
            store.SaveIdentity(identity with
            {
                PasswordHash = PasswordHasher.Hash(secret, parse.GetValue(iterations)),
                ScramSha256 = ScramCredential.Derive(secret, parse.GetValue(iterations)).Encode(),
            });
            Console.Out.WriteLine($"password of {identity.Name} changed");
            return 0;
        }));
        return command;
    }

    private static string Summary(Identity identity)
    {
        var credentials = new List<string>();
        if (identity.PasswordHash is not null) credentials.Add("password");
        if (identity.CertificateThumbprints.Count > 0) credentials.Add($"{identity.CertificateThumbprints.Count} certificate(s)");
        return string.Join('\t', identity.Name, identity.Enabled ? "enabled" : "disabled",
            identity.Groups.Count == 0 ? "-" : string.Join(',', identity.Groups), credentials.Count == 0 ? "-" : string.Join(',', credentials));
    }

    internal static int Run(string dataDirectory, Func<SqliteSecurityStore, int> action)
    {
        try
        {
            using var store = SqliteSecurityStore.Open(Path.GetFullPath(dataDirectory));
            return action(store);
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or UnauthorizedAccessException
            or Microsoft.Data.Sqlite.SqliteException or ArgumentException)
        {
            return Fail(ex.Message);
        }
    }

    internal static int Fail(string message)
    {
        GatehouseCli.WriteError(message);
        return GatehouseCli.Failure;
    }
}
