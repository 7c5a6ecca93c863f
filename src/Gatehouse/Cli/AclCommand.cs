using System.CommandLine;
using Gatehouse.Security.Authorization;

namespace Gatehouse.Cli;

/// <summary>
/// <c>gatehouse acl add|list|remove</c>: ACL rules kept in security.db beside the identities (in addition to any
/// <c>--acl-file</c>); a running server applies changes within its reload interval, to connected clients too.
/// Rules combine as deny-overrides (see docs/SECURITY.md).
/// </summary>
internal static class AclCommand
{
    public static Command Create()
    {
        var command = new Command("acl", "Manage topic ACL rules stored in the data directory.");
        command.Subcommands.Add(Add());
        command.Subcommands.Add(List());
        command.Subcommands.Add(Remove());
        return command;
    }

    private static Command Add()
    {
        var filter = new Argument<string>("FILTER") { Description = "Topic filter; %c = client id, %u = identity name" };
        var identity = new Option<string>("--identity") { Description = "Rule for this identity", HelpName = "NAME" };
        var group = new Option<string>("--group") { Description = "Rule for the identities of this group", HelpName = "G" };
        var anonymous = new Option<bool>("--anonymous") { Description = "Rule for anonymous clients" };
        var everyone = new Option<bool>("--everyone") { Description = "Rule for every client (like a Mosquitto pattern line)" };
        var access = new Option<string>("--access")
        {
            Description = "read | write | readwrite | deny, or a list of publish,subscribe,retain",
            HelpName = "ACCESS",
            DefaultValueFactory = _ => "readwrite",
        };
        var deny = new Option<bool>("--deny") { Description = "Deny the given access instead of allowing it" };
        var dataDir = IdentitiesCommand.DataDirOption();
        var command = new Command("add", "Add an ACL rule.") { filter, identity, group, anonymous, everyone, access, deny, dataDir };
        command.SetAction(parse => IdentitiesCommand.Run(parse.GetValue(dataDir)!, store =>
        {
            var subjects = new (bool Given, AclSubjectKind Kind, string? Name)[]
            {
                (parse.GetValue(identity) is not null, AclSubjectKind.Identity, parse.GetValue(identity)),
                (parse.GetValue(group) is not null, AclSubjectKind.Group, parse.GetValue(group)),
                (parse.GetValue(anonymous), AclSubjectKind.Anonymous, null),
                (parse.GetValue(everyone), AclSubjectKind.Everyone, null),
            }.Where(s => s.Given).ToList();
            if (subjects.Count != 1) return IdentitiesCommand.Fail("give exactly one of --identity, --group, --anonymous, --everyone");
            if (!AclRule.TryParseAccess(parse.GetValue(access)!, out var isDeny, out var granted))
                return IdentitiesCommand.Fail($"invalid --access '{parse.GetValue(access)}'");
            var topicFilter = parse.GetValue(filter)!;
            if (!MosquittoAclFile.IsValidFilter(topicFilter)) return IdentitiesCommand.Fail($"invalid topic filter '{topicFilter}'");
            var rule = new AclRule(subjects[0].Kind, subjects[0].Name, isDeny || parse.GetValue(deny), granted, topicFilter);
            var id = store.AddRule(rule);
            Console.Out.WriteLine($"rule {id} added: {Describe(rule with { Id = id })}");
            return 0;
        }));
        return command;
    }

    private static Command List()
    {
        var dataDir = IdentitiesCommand.DataDirOption();
        var command = new Command("list", "List the stored ACL rules: id, subject, access, filter.") { dataDir };
        command.SetAction(parse => IdentitiesCommand.Run(parse.GetValue(dataDir)!, store =>
        {
            foreach (var rule in store.ListRules()) Console.Out.WriteLine(Describe(rule));
            return 0;
        }));
        return command;
    }

    private static Command Remove()
    {
        var id = new Argument<long>("ID");
        var dataDir = IdentitiesCommand.DataDirOption();
        var command = new Command("remove", "Remove a stored ACL rule by id.") { id, dataDir };
        command.SetAction(parse => IdentitiesCommand.Run(parse.GetValue(dataDir)!, store =>
        {
            if (!store.RemoveRule(parse.GetValue(id))) return IdentitiesCommand.Fail($"no rule {parse.GetValue(id)}");
            Console.Out.WriteLine($"rule {parse.GetValue(id)} removed");
            return 0;
        }));
        return command;
    }

    private static string Describe(AclRule rule)
    {
        var subject = rule.SubjectKind switch
        {
            AclSubjectKind.Identity => "identity:" + rule.Subject,
            AclSubjectKind.Group => "group:" + rule.Subject,
            AclSubjectKind.Anonymous => "anonymous",
            _ => "everyone",
        };
        return string.Join('\t', rule.Id, subject, AclRule.FormatAccess(rule.Deny, rule.Access), rule.Filter);
    }
}
