using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Gatehouse.Security.Audit;

namespace Gatehouse.Cli;

/// <summary>
/// <c>gatehouse audit</c>: the audit rows in security.db (authentication failures, bans, denials, rate limits, quotas,
/// revocations), oldest first, newest <c>--limit</c>. Works while the server runs (the database is in WAL mode).
/// </summary>
internal static class AuditCommand
{
    public static Command Create()
    {
        var dataDir = IdentitiesCommand.DataDirOption();
        var since = new Option<string>("--since") { Description = "Only rows newer than this: 30s, 15m, 2h, 7d or hh:mm:ss", HelpName = "DURATION" };
        var identity = new Option<string>("--identity") { Description = "Only rows for this identity (user name)", HelpName = "NAME" };
        var kind = new Option<string>("--kind") { Description = $"Only rows of this kind: {string.Join(", ", Enum.GetNames<AuditKind>())}", HelpName = "KIND" };
        var limit = new Option<int>("--limit") { Description = "At most this many rows (the newest) [default: 100]", HelpName = "N", DefaultValueFactory = _ => 100 };
        var json = new Option<bool>("--json") { Description = "A JSON array instead of tab-separated lines" };
        var command = new Command("audit", "Show the security audit log (security.db in the data directory).") { dataDir, since, identity, kind, limit, json };
        command.SetAction(parse => IdentitiesCommand.Run(parse.GetValue(dataDir)!, store =>
        {
            DateTimeOffset? from = null;
            if (parse.GetValue(since) is { } text)
            {
                if (!TryParseDuration(text, out var duration)) return IdentitiesCommand.Fail($"--since expects a duration like 30s, 15m, 2h, 7d, got '{text}'");
                from = DateTimeOffset.UtcNow - duration;
            }
            AuditKind? kindFilter = null;
            if (parse.GetValue(kind) is { } kindText)
            {
                if (!Enum.TryParse<AuditKind>(kindText, ignoreCase: true, out var parsed) || !Enum.IsDefined(parsed))
                    return IdentitiesCommand.Fail($"unknown --kind '{kindText}' (known: {string.Join(", ", Enum.GetNames<AuditKind>())})");
                kindFilter = parsed;
            }
            var count = parse.GetValue(limit);
            if (count < 1) return IdentitiesCommand.Fail("--limit must be at least 1");
            var rows = store.QueryAudit(from, parse.GetValue(identity), kindFilter, count);
            if (parse.GetValue(json)) WriteJson(rows);
            else foreach (var row in rows) Console.Out.WriteLine(Line(row));
            return 0;
        }));
        return command;
    }

    internal static bool TryParseDuration(string text, out TimeSpan duration)
    {
        duration = default;
        text = text.Trim();
        if (text.Length >= 2 && double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && number >= 0)
        {
            double? seconds = char.ToLowerInvariant(text[^1]) switch { 's' => number, 'm' => number * 60, 'h' => number * 3600, 'd' => number * 86400, _ => null };
            if (seconds is { } s)
            {
                duration = TimeSpan.FromSeconds(s);
                return true;
            }
        }
        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out duration) && duration >= TimeSpan.Zero;
    }

    private static string Line(AuditEvent e) => string.Join('\t',
        e.At.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture), e.Kind, e.Identity ?? "-", e.ClientId ?? "-",
        e.RemoteAddress ?? "-", e.Listener ?? "-", $"0x{e.ReasonCode:X2}", e.Detail ?? "");

    private static void WriteJson(IReadOnlyList<AuditEvent> rows)
    {
        using var stdout = Console.OpenStandardOutput();
        using (var writer = new Utf8JsonWriter(stdout, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartArray();
            foreach (var e in rows)
            {
                writer.WriteStartObject();
                writer.WriteString("at", e.At.ToUniversalTime());
                writer.WriteString("kind", e.Kind.ToString());
                writer.WriteString("identity", e.Identity);
                writer.WriteString("clientId", e.ClientId);
                writer.WriteString("remote", e.RemoteAddress);
                writer.WriteString("listener", e.Listener);
                writer.WriteNumber("reasonCode", e.ReasonCode);
                writer.WriteString("detail", e.Detail);
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
        }
        stdout.WriteByte((byte)'\n');
    }
}
