namespace Gatehouse.Security.Authorization;

/// <summary>
/// Reads Mosquitto's acl_file format:
/// <code>
/// # comment
/// topic read public/#            (before any user line: anonymous clients)
/// user alice
/// topic readwrite alice/#        (access omitted = readwrite)
/// topic deny alice/secret
/// pattern write devices/%c/up    (every client; %c client id, %u user name)
/// </code>
/// "read" grants subscribe/receive, "write" publish including retained messages, "deny" denies everything on the filter.
/// </summary>
public static class MosquittoAclFile
{
    public static IReadOnlyList<AclRule> Load(string path) => Parse(File.ReadAllLines(path), path);

    /// <summary>Parses the lines; throws <see cref="FormatException"/> naming the file and line on the first error.</summary>
    public static IReadOnlyList<AclRule> Parse(IEnumerable<string> lines, string source = "acl file")
    {
        var rules = new List<AclRule>();
        string? user = null;
        var number = 0;
        foreach (var raw in lines)
        {
            number++;
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            var space = line.IndexOfAny([' ', '\t']);
            var keyword = space < 0 ? line : line[..space];
            var rest = space < 0 ? "" : line[(space + 1)..].Trim();
            switch (keyword.ToLowerInvariant())
            {
                case "user":
                    if (rest.Length == 0) throw Error(source, number, "user needs a name");
                    user = rest;
                    break;
                case "topic":
                case "pattern":
                {
                    var (deny, access, filter) = ParseAccessAndFilter(rest, source, number);
                    if (keyword.Equals("pattern", StringComparison.OrdinalIgnoreCase))
                        rules.Add(new AclRule(AclSubjectKind.Everyone, null, deny, access, filter) { Source = "file" });
                    else if (user is null)
                        rules.Add(new AclRule(AclSubjectKind.Anonymous, null, deny, access, filter) { Source = "file" });
                    else
                        rules.Add(new AclRule(AclSubjectKind.Identity, user, deny, access, filter) { Source = "file" });
                    break;
                }
                default:
                    throw Error(source, number, $"unknown keyword '{keyword}' (expected user, topic or pattern)");
            }
        }
        return rules;
    }

    private static (bool Deny, AclAccess Access, string Filter) ParseAccessAndFilter(string rest, string source, int number)
    {
        if (rest.Length == 0 || (AclRule.TryParseAccess(rest, out _, out _) && rest.IndexOfAny([' ', '\t']) < 0 && rest.ToLowerInvariant() is "read" or "write" or "readwrite" or "deny"))
            throw Error(source, number, "missing topic filter");
        var space = rest.IndexOfAny([' ', '\t']);
        var first = space < 0 ? rest : rest[..space];
        bool deny;
        AclAccess access;
        string filter;
        if (first.ToLowerInvariant() is "read" or "write" or "readwrite" or "deny" && space >= 0
            && AclRule.TryParseAccess(first, out deny, out access))
        {
            filter = rest[(space + 1)..].Trim();
        }
        else
        {
            (deny, access, filter) = (false, AclAccess.All, rest);
        }
        if (!IsValidFilter(filter)) throw Error(source, number, $"invalid topic filter '{filter}'");
        return (deny, access, filter);
    }

    public static bool IsValidFilter(string filter) =>
        Protocol.Topics.TopicRules.IsValidTopicFilter(filter.Replace("%c", "c", StringComparison.Ordinal).Replace("%u", "u", StringComparison.Ordinal));

    private static FormatException Error(string source, int line, string message) => new($"{source}:{line}: {message}");
}
