using Gatehouse.Security.Authorization;

namespace Gatehouse.Security.Tests.Unit;

public sealed class AuthorizationTests
{
    private const string AclFile = """
        # anonymous clients: read public topics only
        topic read public/#

        user alice
        topic readwrite alice/#
        topic read sensors/#
        topic deny sensors/secret
        topic write commands/alice

        user bob
        topic sensors/+/temperature

        # every client: its own device tree
        pattern readwrite devices/%c/#
        pattern read users/%u/inbox
        """;

    private static Authorizer Load(string text = AclFile)
    {
        var authorizer = new Authorizer();
        authorizer.SetFileRules(MosquittoAclFile.Parse(text.Split('\n')));
        return authorizer;
    }

    private static ClientPrincipal Alice(string clientId = "alice-1") => new("alice", clientId);

    [Fact]
    public void Parses_user_topic_and_pattern_lines_as_mosquitto_does()
    {
        var rules = MosquittoAclFile.Parse(AclFile.Split('\n'));

        Assert.Equal(new AclRule(AclSubjectKind.Anonymous, null, false, AclAccess.Subscribe, "public/#") { Source = "file" }, rules[0]);
        Assert.Equal(new AclRule(AclSubjectKind.Identity, "alice", true, AclAccess.All, "sensors/secret") { Source = "file" }, rules[3]);
        Assert.Equal(new AclRule(AclSubjectKind.Identity, "bob", false, AclAccess.All, "sensors/+/temperature") { Source = "file" }, rules[5]);
        Assert.Equal(AclSubjectKind.Everyone, rules[6].SubjectKind);
        Assert.Equal(8, rules.Count);
    }

    [Theory]
    [InlineData("bogus line")]
    [InlineData("topic read")]
    [InlineData("topic read a/#/b")]
    [InlineData("user")]
    public void Malformed_lines_are_reported_with_their_line_number(string line)
    {
        var error = Assert.Throws<FormatException>(() => MosquittoAclFile.Parse(["# ok", line], "acl.conf"));
        Assert.StartsWith("acl.conf:2:", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Publish_needs_write_and_retain_needs_the_retain_permission()
    {
        var authorizer = Load();
        Assert.True(authorizer.MayPublish(Alice(), "alice/x", retain: true));
        Assert.True(authorizer.MayPublish(Alice(), "commands/alice", retain: false));
        Assert.False(authorizer.MayPublish(Alice(), "sensors/a", retain: false));
        Assert.False(authorizer.MayPublish(Alice(), "elsewhere", retain: false));

        var store = new Authorizer();
        store.SetStoreRules([new AclRule(AclSubjectKind.Identity, "alice", false, AclAccess.Publish, "t/#")], new Dictionary<string, IReadOnlyList<string>>());
        Assert.True(store.MayPublish(Alice(), "t/1", retain: false));
        Assert.False(store.MayPublish(Alice(), "t/1", retain: true));
    }

    [Fact]
    public void Deny_overrides_allow_whatever_the_order()
    {
        var authorizer = Load();
        Assert.True(authorizer.MayReceive(Alice(), "sensors/kitchen"));
        Assert.False(authorizer.MayReceive(Alice(), "sensors/secret"));
        Assert.False(authorizer.MaySubscribe(Alice(), "sensors/secret"));
    }

    [Fact]
    public void Anonymous_clients_get_only_the_rules_before_any_user_line_and_patterns_without_u()
    {
        var authorizer = Load();
        var anonymous = new ClientPrincipal(null, "anon-1");
        Assert.True(authorizer.MaySubscribe(anonymous, "public/news"));
        Assert.False(authorizer.MaySubscribe(anonymous, "alice/#"));
        Assert.False(authorizer.MayPublish(anonymous, "public/news", retain: false));
        Assert.True(authorizer.MayPublish(anonymous, "devices/anon-1/state", retain: false));
        Assert.False(authorizer.MayReceive(anonymous, "users/%u/inbox"));
        Assert.False(authorizer.MayReceive(Alice(), "public/news"));
    }

    [Theory]
    [InlineData("#")]
    [InlineData("+/secret")]
    [InlineData("sensors/#/x")]
    [InlineData("+/#")]
    [InlineData("+")]
    [InlineData("bob/#")]
    [InlineData("alice/#/x")]
    [InlineData("$SYS/#")]
    public void Wildcard_subscriptions_beyond_what_the_identity_may_read_are_refused(string filter)
    {
        var authorizer = Load();
        if (filter.Contains("/#/", StringComparison.Ordinal)) return; // not a valid filter; the broker refuses it before ACLs
        Assert.False(authorizer.MaySubscribe(Alice(), filter));
    }

    [Fact]
    public void Wildcard_subscription_inside_an_allowed_tree_is_granted_and_deliveries_of_denied_topics_are_filtered()
    {
        var authorizer = Load();
        // sensors/# is readable except sensors/secret: the subscription is granted ...
        Assert.True(authorizer.MaySubscribe(Alice(), "sensors/#"));
        Assert.True(authorizer.MaySubscribe(Alice(), "sensors/+"));
        // ... and the per-delivery check keeps the denied topic out.
        Assert.True(authorizer.MayReceive(Alice(), "sensors/kitchen"));
        Assert.False(authorizer.MayReceive(Alice(), "sensors/secret"));
    }

    [Fact]
    public void Placeholders_are_substituted_and_wildcards_in_client_ids_do_not_widen_a_pattern()
    {
        var authorizer = Load();
        Assert.True(authorizer.MaySubscribe(Alice("alice-1"), "devices/alice-1/#"));
        Assert.False(authorizer.MaySubscribe(Alice("alice-1"), "devices/alice-2/#"));
        Assert.True(authorizer.MayReceive(Alice(), "users/alice/inbox"));
        Assert.False(authorizer.MayReceive(Alice(), "users/bob/inbox"));

        // A client id of "#" or "+" or "a/b" must not turn devices/%c/# into a wider filter.
        foreach (var evil in new[] { "#", "+", "x/y", "+/#" })
        {
            var client = new ClientPrincipal("mallory", evil);
            Assert.False(authorizer.MaySubscribe(client, "devices/#"));
            Assert.False(authorizer.MayReceive(client, "devices/victim/state"));
            Assert.False(authorizer.MayPublish(client, "devices/victim/cmd", retain: false));
        }
    }

    [Fact]
    public void Unsafe_substitution_in_a_deny_rule_denies()
    {
        var authorizer = new Authorizer();
        authorizer.SetFileRules(MosquittoAclFile.Parse(["pattern readwrite #", "pattern deny private/%c/#"]));
        Assert.True(authorizer.MayPublish(new ClientPrincipal("x", "ok"), "public", retain: false));
        Assert.False(authorizer.MayPublish(new ClientPrincipal("x", "#"), "public", retain: false));
    }

    [Fact]
    public void Group_rules_apply_to_members_from_the_store()
    {
        var authorizer = new Authorizer();
        var groups = new Dictionary<string, IReadOnlyList<string>> { ["dev1"] = ["sensors"] };
        authorizer.SetStoreRules([new AclRule(AclSubjectKind.Group, "sensors", false, AclAccess.All, "telemetry/%u/#")], groups);
        Assert.True(authorizer.MayPublish(new ClientPrincipal("dev1", "dev1"), "telemetry/dev1/t", retain: false));
        Assert.False(authorizer.MayPublish(new ClientPrincipal("dev2", "dev2"), "telemetry/dev2/t", retain: false));
        // A token's groups count for identities that are not in the store.
        Assert.True(authorizer.MayPublish(new ClientPrincipal("dev3", "dev3", ["sensors"]), "telemetry/dev3/t", retain: false));
    }

    [Fact]
    public void Cached_decisions_are_discarded_when_the_rules_change()
    {
        var authorizer = Load();
        var alice = Alice();
        Assert.True(authorizer.MayReceive(alice, "sensors/kitchen"));
        authorizer.SetFileRules(MosquittoAclFile.Parse(["user alice", "topic deny sensors/#", "topic read #"]));
        Assert.False(authorizer.MayReceive(alice, "sensors/kitchen"));
        Assert.True(authorizer.MayReceive(alice, "other"));
    }

    [Fact]
    public void The_decision_cache_is_bounded()
    {
        var authorizer = Load();
        var alice = Alice();
        for (var i = 0; i < ClientPrincipal.CacheCapacity * 3; i++) authorizer.MayReceive(alice, $"sensors/{i}");
        Assert.True(alice.Caches.Receive.Count <= ClientPrincipal.CacheCapacity);
    }

    [Fact]
    public void No_rules_means_everything_is_allowed()
    {
        var authorizer = new Authorizer();
        Assert.True(authorizer.MaySubscribe(Alice(), "#"));
        Assert.True(authorizer.MayPublish(Alice(), "x", retain: true));
    }

    [Theory]
    [InlineData("a/#", "a/+/b", true)]
    [InlineData("a/#", "a", true)]
    [InlineData("a/#", "a/#", true)]
    [InlineData("a/+", "a/b", true)]
    [InlineData("a/+", "a/+", true)]
    [InlineData("a/+", "a/#", false)]
    [InlineData("a/+", "a/b/c", false)]
    [InlineData("a/b", "a/+", false)]
    [InlineData("#", "anything/at/all", true)]
    [InlineData("#", "$SYS/#", false)]
    [InlineData("$SYS/#", "$SYS/broker/+", true)]
    [InlineData("+/b", "+/b", true)]
    [InlineData("a/b", "+/b", false)]
    public void Covers_means_every_topic_of_the_inner_filter_is_in_the_outer_one(string outer, string inner, bool expected)
    {
        Assert.Equal(expected, TopicFilter.Covers(outer, inner));
    }
}
