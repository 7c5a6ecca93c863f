using System.Collections.Concurrent;
using System.Diagnostics;
using Gatehouse.Broker.Subscriptions;
using Gatehouse.Protocol.Topics;

namespace Gatehouse.Broker.Tests.Subscriptions;

/// <summary>
/// The subscription index. Spec examples are from section 4.7 of MQTT 3.1.1 and 5.0 (the examples are the same in
/// both); each one is a separate test so a failure names the rule it breaks.
/// </summary>
public sealed class TopicTreeTests
{
    // ---- helpers -------------------------------------------------------------------------------------------------

    /// <summary>A tree holding one subscription per filter, the value being the filter itself.</summary>
    private static TopicTree<string, string> TreeOf(params string[] filters)
    {
        var tree = new TopicTree<string, string>();
        foreach (var filter in filters) Assert.True(tree.AddOrReplace(filter, "client", filter));
        return tree;
    }

    private static List<string> MatchSorted(TopicTree<string, string> tree, string topic)
    {
        var results = new List<string>();
        tree.Match(topic, results);
        results.Sort(StringComparer.Ordinal);
        return results;
    }

    private static bool Matches(string filter, string topic) => MatchSorted(TreeOf(filter), topic).Count == 1;

    private static void AssertMatches(string filter, string topic) =>
        Assert.True(Matches(filter, topic), $"'{filter}' should match '{topic}'");

    private static void AssertNoMatch(string filter, string topic) =>
        Assert.False(Matches(filter, topic), $"'{filter}' should not match '{topic}'");

    /// <summary>The rules of section 4.7 spelled out naively, as the oracle for randomized and concurrent tests.</summary>
    private static bool ReferenceMatches(string filter, string topic)
    {
        if (topic.StartsWith('$') && (filter.StartsWith('+') || filter.StartsWith('#'))) return false;
        var f = filter.Split('/');
        var t = topic.Split('/');
        for (var i = 0; i < f.Length; i++)
        {
            if (f[i] == "#") return true;
            if (i >= t.Length) return false;
            if (f[i] != "+" && f[i] != t[i]) return false;
        }
        return f.Length == t.Length;
    }

    // ---- 4.7.1.2 multi-level wildcard ----------------------------------------------------------------------------

    [Theory]
    [InlineData("sport/tennis/player1")]
    [InlineData("sport/tennis/player1/ranking")]
    [InlineData("sport/tennis/player1/score/wimbledon")]
    public void MultiLevelWildcard_MatchesParentAndEveryDescendant(string topic) =>
        AssertMatches("sport/tennis/player1/#", topic);

    [Fact]
    public void MultiLevelWildcard_MatchesTheParentLevelItself() => AssertMatches("sport/#", "sport");

    [Fact]
    public void MultiLevelWildcard_MatchesAnEmptyChildLevel() => AssertMatches("sport/#", "sport/");

    [Theory]
    [InlineData("sports")]
    [InlineData("sportX/tennis")]
    [InlineData("tennis/sport")]
    public void MultiLevelWildcard_DoesNotMatchOtherBranches(string topic) => AssertNoMatch("sport/#", topic);

    [Fact]
    public void MultiLevelWildcard_DoesNotMatchASiblingOfItsParent() =>
        AssertNoMatch("sport/tennis/player1/#", "sport/tennis/player2");

    [Fact]
    public void MultiLevelWildcard_DoesNotMatchAShorterTopic() => AssertNoMatch("sport/tennis/#", "sport");

    [Theory]
    [InlineData("a")]
    [InlineData("a/b/c")]
    [InlineData("/")]
    [InlineData("/finance")]
    [InlineData("a//b/")]
    [InlineData("x$")]
    public void LoneMultiLevelWildcard_MatchesEveryNonDollarTopic(string topic) => AssertMatches("#", topic);

    [Fact]
    public void PlusThenHash_MatchesEveryTopicOfOneOrMoreLevels()
    {
        AssertMatches("+/#", "a");
        AssertMatches("+/#", "a/b/c");
        AssertMatches("+/#", "/");
    }

    // ---- 4.7.1.3 single-level wildcard ---------------------------------------------------------------------------

    [Theory]
    [InlineData("sport/tennis/player1")]
    [InlineData("sport/tennis/player2")]
    public void SingleLevelWildcard_MatchesOneLevel(string topic) => AssertMatches("sport/tennis/+", topic);

    [Fact]
    public void SingleLevelWildcard_DoesNotMatchTwoLevels() =>
        AssertNoMatch("sport/tennis/+", "sport/tennis/player1/ranking");

    [Fact]
    public void SingleLevelWildcard_DoesNotMatchAMissingLevel() => AssertNoMatch("sport/+", "sport");

    [Fact]
    public void SingleLevelWildcard_MatchesAnEmptyTrailingLevel() => AssertMatches("sport/+", "sport/");

    [Fact]
    public void SingleLevelWildcard_MatchesAnEmptyLevelInTheMiddle() => AssertMatches("a/+/b", "a//b");

    [Fact]
    public void SingleLevelWildcard_MatchesAnEmptyLeadingLevel()
    {
        AssertMatches("+/+", "/finance");
        AssertMatches("/+", "/finance");
        AssertNoMatch("+", "/finance");
    }

    [Fact]
    public void SingleLevelWildcard_InTheMiddle() => AssertMatches("sport/+/player1", "sport/tennis/player1");

    [Fact]
    public void SingleLevelWildcard_FirstLevelWithMultiLevelAfter()
    {
        AssertMatches("+/tennis/#", "sport/tennis");
        AssertMatches("+/tennis/#", "sport/tennis/player1/ranking");
        AssertNoMatch("+/tennis/#", "sport/golf");
    }

    [Fact]
    public void LoneSingleLevelWildcard_MatchesOnlySingleLevelTopics()
    {
        AssertMatches("+", "finance");
        AssertNoMatch("+", "finance/");
        AssertNoMatch("+", "a/b");
    }

    [Fact]
    public void ConsecutiveSingleLevelWildcards_MatchExactlyThatManyLevels()
    {
        AssertMatches("+/+/+", "a/b/c");
        AssertMatches("+/+/+", "//");
        AssertNoMatch("+/+/+", "a/b");
        AssertNoMatch("+/+/+", "a/b/c/d");
    }

    // ---- 4.7.2 topics beginning with $ [MQTT-4.7.2-1] ------------------------------------------------------------

    [Theory]
    [InlineData("$SYS/monitor/Clients")]
    [InlineData("$SYS")]
    [InlineData("$")]
    [InlineData("$share-not-really/x")]
    public void DollarTopic_IsNotMatchedByLoneMultiLevelWildcard(string topic) => AssertNoMatch("#", topic);

    [Fact]
    public void DollarTopic_IsNotMatchedByFilterStartingWithSingleLevelWildcard()
    {
        AssertNoMatch("+/monitor/Clients", "$SYS/monitor/Clients");
        AssertNoMatch("+", "$SYS");
        AssertNoMatch("+/#", "$SYS/x");
        AssertNoMatch("+/+", "$SYS/x");
    }

    [Fact]
    public void DollarTopic_IsMatchedByFilterStartingWithDollarLevel()
    {
        AssertMatches("$SYS/#", "$SYS/monitor/Clients");
        AssertMatches("$SYS/#", "$SYS");
        AssertMatches("$SYS/monitor/+", "$SYS/monitor/Clients");
        AssertMatches("$SYS/monitor/Clients", "$SYS/monitor/Clients");
        AssertMatches("$SYS/+/Clients", "$SYS/monitor/Clients");
    }

    [Fact]
    public void DollarTopic_LevelsAreCaseSensitive() => AssertNoMatch("$sys/#", "$SYS/monitor");

    [Fact]
    public void DollarLaterInTopic_IsAnOrdinaryCharacter()
    {
        AssertMatches("a/#", "a/$b");
        AssertMatches("+/+", "a/$b");
        AssertMatches("#", "a/$SYS");
        AssertMatches("+/$x", "a/$x");
    }

    [Fact]
    public void DollarTopic_SeesOnlyItsOwnFiltersAmongMany()
    {
        var tree = TreeOf("#", "+/monitor/Clients", "$SYS/#", "$SYS/monitor/+", "+/+/+", "$SYS/monitor/Clients");
        Assert.Equal(["$SYS/#", "$SYS/monitor/+", "$SYS/monitor/Clients"], MatchSorted(tree, "$SYS/monitor/Clients"));
        Assert.Equal(["#", "+/+/+", "+/monitor/Clients"], MatchSorted(tree, "SYS/monitor/Clients"));
    }

    // ---- 4.7.3 topic semantics and usage [MQTT-4.7.3-4] ----------------------------------------------------------

    [Fact]
    public void Levels_AreCaseSensitive()
    {
        AssertNoMatch("ACCOUNTS", "Accounts");
        AssertNoMatch("Accounts", "ACCOUNTS");
        AssertMatches("Accounts", "Accounts");
    }

    [Fact]
    public void Levels_MayContainSpaces() => AssertMatches("Accounts payable", "Accounts payable");

    [Fact]
    public void LeadingSlash_MakesADistinctTopic()
    {
        AssertNoMatch("finance", "/finance");
        AssertNoMatch("/finance", "finance");
        AssertMatches("/finance", "/finance");
    }

    [Fact]
    public void LoneSlash_IsTwoEmptyLevels()
    {
        AssertMatches("/", "/");
        AssertMatches("+/+", "/");
        AssertMatches("/#", "/");
        AssertNoMatch("/", "//");
        AssertNoMatch("+", "/");
    }

    [Fact]
    public void TrailingSlash_MakesADistinctTopic()
    {
        AssertNoMatch("a/", "a");
        AssertNoMatch("a", "a/");
        AssertMatches("a/", "a/");
        AssertMatches("a/#", "a/");
        AssertMatches("a/#", "a");
    }

    [Fact]
    public void EmptyMiddleLevel_IsSignificant()
    {
        AssertNoMatch("a/b", "a//b");
        AssertNoMatch("a//b", "a/b");
        AssertMatches("a//b", "a//b");
    }

    [Fact]
    public void Levels_CompareOrdinallyWithoutNormalisation()
    {
        AssertMatches("température/+", "température/salon");
        AssertNoMatch("e\u0301", "\u00e9"); // decomposed vs precomposed é: different characters, no normalisation.
        AssertMatches("温度/#", "温度/室内/1");
    }

    [Fact]
    public void PrefixOfALevel_DoesNotMatch()
    {
        AssertNoMatch("sport/ten", "sport/tennis");
        AssertNoMatch("sport/tennis", "sport/ten");
    }

    // ---- overlapping filters and many keys ------------------------------------------------------------------------

    [Fact]
    public void OverlappingFilters_EachContributeAResult()
    {
        var tree = TreeOf("a/b", "a/+", "a/#", "#", "+/b", "+/+", "+/#", "a/b/#", "a/c", "b/+");
        Assert.Equal(["#", "+/#", "+/+", "+/b", "a/#", "a/+", "a/b", "a/b/#"], MatchSorted(tree, "a/b"));
    }

    [Fact]
    public void SameKeyOnOverlappingFilters_AppearsOncePerFilter()
    {
        var tree = new TopicTree<string, int>();
        tree.AddOrReplace("a/b", "c1", 1);
        tree.AddOrReplace("a/+", "c1", 2);
        tree.AddOrReplace("#", "c1", 3);
        var results = new List<int>();
        tree.Match("a/b", results);
        results.Sort();
        Assert.Equal([1, 2, 3], results);
        Assert.Equal(3, tree.Count);
    }

    [Fact]
    public void ManyKeysOnOneFilter_AreAllReturned()
    {
        var tree = new TopicTree<int, int>();
        for (var i = 0; i < 1000; i++) Assert.True(tree.AddOrReplace("alerts/#", i, i));
        var results = new List<int>();
        tree.Match("alerts/fire", results);
        results.Sort();
        Assert.Equal(Enumerable.Range(0, 1000), results);
        Assert.Equal(1000, tree.Count);
    }

    [Fact]
    public void ManyKeysOnOneFilter_RemovingHalfLeavesTheOtherHalf()
    {
        var tree = new TopicTree<int, int>();
        for (var i = 0; i < 1000; i++) tree.AddOrReplace("t", i, i);
        for (var i = 0; i < 1000; i += 2) Assert.True(tree.Remove("t", i));
        var results = new List<int>();
        tree.Match("t", results);
        results.Sort();
        Assert.Equal(Enumerable.Range(0, 500).Select(i => i * 2 + 1), results);
        Assert.Equal(500, tree.Count);
    }

    [Fact]
    public void KeysOnOneFilter_StayExactAcrossGrowingAndShrinking()
    {
        // Walks the count up and down through the small-array / table boundary many times.
        var tree = new TopicTree<int, string>();
        var expected = new Dictionary<int, string>();
        var random = new Random(7);
        for (var step = 0; step < 3000; step++)
        {
            var key = random.Next(40);
            var grow = (step / 200) % 2 == 0;
            if (random.Next(4) != 0 == grow)
            {
                var value = $"{key}:{step}";
                Assert.Equal(!expected.ContainsKey(key), tree.AddOrReplace("x/y", key, value));
                expected[key] = value;
            }
            else
            {
                Assert.Equal(expected.Remove(key), tree.Remove("x/y", key));
            }
            var results = new List<string>();
            tree.Match("x/y", results);
            results.Sort(StringComparer.Ordinal);
            Assert.Equal(expected.Values.Order(StringComparer.Ordinal), results);
            Assert.Equal(expected.Count, tree.Count);
        }
    }

    [Fact]
    public void WideLevel_FindsEveryChildAndPrunesThemAll()
    {
        var tree = new TopicTree<int, int>();
        for (var i = 0; i < 2000; i++) tree.AddOrReplace($"devices/{i}/telemetry", 0, i);
        var results = new List<int>();
        for (var i = 0; i < 2000; i += 97)
        {
            results.Clear();
            tree.Match($"devices/{i}/telemetry", results);
            Assert.Equal([i], results);
        }
        results.Clear();
        tree.Match("devices/2000/telemetry", results);
        Assert.Empty(results);

        for (var i = 0; i < 2000; i++)
        {
            Assert.True(tree.Remove($"devices/{i}/telemetry", 0));
            if (i == 1990)
            {
                // A handful of siblings left: still all found.
                for (var j = 1991; j < 2000; j++)
                {
                    results.Clear();
                    tree.Match($"devices/{j}/telemetry", results);
                    Assert.Equal([j], results);
                }
            }
        }
        Assert.Equal(0, tree.Count);
        Assert.Equal(0, tree.NodeCount());
    }

    [Fact]
    public void WildcardAndLiteralChildren_OfOneNodeBothMatch()
    {
        var tree = TreeOf("a/+/c", "a/b/c", "a/#", "a/b/+", "a/+/+");
        Assert.Equal(["a/#", "a/+/+", "a/+/c", "a/b/+", "a/b/c"], MatchSorted(tree, "a/b/c"));
        Assert.Equal(["a/#", "a/+/+", "a/+/c"], MatchSorted(tree, "a/x/c"));
    }

    // ---- replace semantics ---------------------------------------------------------------------------------------

    [Fact]
    public void AddOrReplace_ReturnsTrueForANewPair()
    {
        var tree = new TopicTree<string, int>();
        Assert.True(tree.AddOrReplace("a", "k", 1));
        Assert.Equal(1, tree.Count);
    }

    [Fact]
    public void AddOrReplace_SamePair_ReplacesTheValueAndReturnsFalse()
    {
        var tree = new TopicTree<string, int>();
        tree.AddOrReplace("a/+", "k", 1);
        Assert.False(tree.AddOrReplace("a/+", "k", 2));
        var results = new List<int>();
        tree.Match("a/x", results);
        Assert.Equal([2], results);
        Assert.Equal(1, tree.Count);
    }

    [Fact]
    public void AddOrReplace_InACrowdedFilter_ReplacesOnlyThatKey()
    {
        var tree = new TopicTree<int, int>();
        for (var i = 0; i < 50; i++) tree.AddOrReplace("#", i, i);
        Assert.False(tree.AddOrReplace("#", 17, 1017));
        var results = new List<int>();
        tree.Match("z", results);
        results.Sort();
        Assert.Equal(Enumerable.Range(0, 50).Select(i => i == 17 ? 1017 : i).Order(), results);
        Assert.Equal(50, tree.Count);
    }

    [Fact]
    public void AddOrReplace_SameKeyOnDifferentFilters_AddsBoth()
    {
        var tree = new TopicTree<string, int>();
        Assert.True(tree.AddOrReplace("a", "k", 1));
        Assert.True(tree.AddOrReplace("b", "k", 2));
        Assert.Equal(2, tree.Count);
    }

    [Fact]
    public void AddOrReplace_UsesTheGivenKeyComparer()
    {
        var tree = new TopicTree<string, int>(StringComparer.OrdinalIgnoreCase);
        Assert.True(tree.AddOrReplace("a", "Client", 1));
        Assert.False(tree.AddOrReplace("a", "CLIENT", 2));
        Assert.True(tree.Remove("a", "client"));
        Assert.Equal(0, tree.Count);
    }

    [Fact]
    public void AddOrReplace_KeyComparerAlsoAppliesInACrowdedFilter()
    {
        var tree = new TopicTree<string, int>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < 20; i++) tree.AddOrReplace("a", $"c{i}", i);
        Assert.False(tree.AddOrReplace("a", "C5", 105));
        Assert.True(tree.Remove("a", "C6"));
        var results = new List<int>();
        tree.Match("a", results);
        Assert.Contains(105, results);
        Assert.DoesNotContain(5, results);
        Assert.DoesNotContain(6, results);
        Assert.Equal(19, tree.Count);
    }

    [Fact]
    public void FilterLevelsAreNotKeys_SameKeyDifferentCaseFilterIsADifferentSubscription()
    {
        var tree = new TopicTree<string, int>();
        Assert.True(tree.AddOrReplace("Room", "k", 1));
        Assert.True(tree.AddOrReplace("room", "k", 2));
        Assert.Equal(2, tree.Count);
    }

    // ---- remove and prune ----------------------------------------------------------------------------------------

    [Fact]
    public void Remove_ReturnsTrueOnceThenFalse()
    {
        var tree = TreeOf("a/b");
        Assert.True(tree.Remove("a/b", "client"));
        Assert.False(tree.Remove("a/b", "client"));
        Assert.Equal(0, tree.Count);
        Assert.Empty(MatchSorted(tree, "a/b"));
    }

    [Fact]
    public void Remove_UnknownFilterOrKey_ReturnsFalseAndChangesNothing()
    {
        var tree = TreeOf("a/b/c");
        Assert.False(tree.Remove("a/b", "client"));     // a node on the path, holding no value
        Assert.False(tree.Remove("a/b/c/d", "client")); // below the leaf
        Assert.False(tree.Remove("x", "client"));
        Assert.False(tree.Remove("a/+/c", "client"));
        Assert.False(tree.Remove("a/b/c", "other"));
        Assert.Equal(1, tree.Count);
        Assert.Equal(["a/b/c"], MatchSorted(tree, "a/b/c"));
    }

    [Fact]
    public void Remove_OneKey_LeavesOtherKeysOnTheFilter()
    {
        var tree = new TopicTree<string, string>();
        tree.AddOrReplace("a", "k1", "v1");
        tree.AddOrReplace("a", "k2", "v2");
        tree.AddOrReplace("a", "k3", "v3");
        Assert.True(tree.Remove("a", "k2"));
        Assert.Equal(["v1", "v3"], MatchSorted(tree, "a"));
    }

    [Fact]
    public void Remove_LastPair_PrunesTheWholeBranch()
    {
        var tree = TreeOf("a/b/c/d");
        Assert.Equal(4, tree.NodeCount());
        tree.Remove("a/b/c/d", "client");
        Assert.Equal(0, tree.NodeCount());
    }

    [Fact]
    public void Remove_PrunesWildcardNodes()
    {
        var tree = TreeOf("+/x/#", "#", "+");
        tree.Remove("+/x/#", "client");
        tree.Remove("#", "client");
        tree.Remove("+", "client");
        Assert.Equal(0, tree.NodeCount());
    }

    [Fact]
    public void Remove_PrunesOnlyUpToTheFirstNodeStillInUse()
    {
        var tree = TreeOf("a/b/c/d", "a/b", "a/x");
        Assert.Equal(5, tree.NodeCount()); // a, b, c, d, x
        tree.Remove("a/b/c/d", "client");
        Assert.Equal(3, tree.NodeCount()); // a, b, x
        Assert.Equal(["a/b"], MatchSorted(tree, "a/b"));
        Assert.Equal(["a/x"], MatchSorted(tree, "a/x"));
    }

    [Fact]
    public void Remove_ValueOfAnInnerNode_KeepsItsDescendants()
    {
        var tree = TreeOf("a", "a/b");
        tree.Remove("a", "client");
        Assert.Equal(2, tree.NodeCount());
        Assert.Empty(MatchSorted(tree, "a"));
        Assert.Equal(["a/b"], MatchSorted(tree, "a/b"));
    }

    [Fact]
    public void Remove_ThenAddAgain_Works()
    {
        var tree = TreeOf("a/+/c");
        tree.Remove("a/+/c", "client");
        Assert.True(tree.AddOrReplace("a/+/c", "client", "again"));
        Assert.Equal(["again"], MatchSorted(tree, "a/b/c"));
    }

    [Fact]
    public void Remove_EmptyLevelFilters()
    {
        var tree = TreeOf("/", "a//b", "a/", "/a");
        foreach (var filter in new[] { "/", "a//b", "a/", "/a" }) Assert.True(tree.Remove(filter, "client"));
        Assert.Equal(0, tree.NodeCount());
    }

    [Fact]
    public void Count_TracksAddsReplacesAndRemoves()
    {
        var tree = new TopicTree<int, int>();
        for (var i = 0; i < 10; i++) tree.AddOrReplace($"f/{i % 3}", i, i);
        Assert.Equal(10, tree.Count);
        tree.AddOrReplace("f/0", 0, 100);
        Assert.Equal(10, tree.Count);
        tree.Remove("f/0", 0);
        tree.Remove("f/0", 0);
        Assert.Equal(9, tree.Count);
    }

    // ---- Match contract ------------------------------------------------------------------------------------------

    [Fact]
    public void Match_OnAnEmptyTree_FindsNothing() => Assert.Empty(MatchSorted(new TopicTree<string, string>(), "a/b"));

    [Fact]
    public void Match_AppendsWithoutClearingTheResults()
    {
        var tree = TreeOf("a");
        var results = new List<string> { "existing" };
        tree.Match("a", results);
        Assert.Equal(["existing", "a"], results);
    }

    [Fact]
    public void Match_WithValueTypeValues()
    {
        var tree = new TopicTree<int, (int Id, byte QoS)>();
        tree.AddOrReplace("a/+", 1, (1, 2));
        var results = new List<(int, byte)>();
        tree.Match("a/b", results);
        Assert.Equal([(1, (byte)2)], results);
    }

    [Fact]
    public void Match_AllocatesNothingOnceWarm()
    {
        var tree = new TopicTree<int, int>();
        string[] filters = ["a/b/c", "a/+/c", "a/#", "+/b/+", "#", "a/b/+", "x/y"];
        for (var i = 0; i < filters.Length; i++) tree.AddOrReplace(filters[i], i, i);
        for (var i = 0; i < 30; i++) tree.AddOrReplace("a/b/c", 100 + i, i); // a crowded filter (table form)
        for (var i = 0; i < 30; i++) tree.AddOrReplace($"a/{i}/c", 0, i);      // a wide level (table form)
        var results = new List<int>(256);
        for (var i = 0; i < 100; i++)
        {
            results.Clear();
            tree.Match("a/b/c", results); // warm: JIT and the thread's backtracking stack
            tree.Match("a/7/c", results);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            results.Clear();
            tree.Match("a/b/c", results);
            tree.Match("a/7/c", results);
            tree.Match("q/r/s/t", results);
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        results.Clear();
        tree.Match("a/b/c", results);
        Assert.Equal(36, results.Count);
    }

    [Fact]
    public void Match_VeryDeepFilters_DoNotOverflowTheStack()
    {
        // 20,000 levels: a recursive walk would risk the stack; the tree walks with an explicit one.
        const int depth = 20_000;
        var topic = string.Join('/', Enumerable.Repeat("l", depth));
        var plusFilter = string.Join('/', Enumerable.Repeat("+", depth));
        var tree = new TopicTree<string, string>();
        tree.AddOrReplace(topic, "c", "literal");
        tree.AddOrReplace(plusFilter, "c", "plus");
        tree.AddOrReplace(string.Join('/', Enumerable.Repeat("l", depth - 1)) + "/#", "c", "hash");
        Assert.Equal(["hash", "literal", "plus"], MatchSorted(tree, topic));
        Assert.True(tree.Remove(plusFilter, "c"));
        Assert.True(tree.Remove(topic, "c"));
        Assert.Equal(["hash"], MatchSorted(tree, topic));
    }

    [Fact]
    public void Match_BacktracksAcrossManyBranchPoints()
    {
        // Each level has both a literal and a '+' child: 2^6 = 64 filters match a/a/a/a/a/a.
        var tree = new TopicTree<string, string>();
        var filters = new List<string>();
        for (var mask = 0; mask < 64; mask++)
        {
            var levels = Enumerable.Range(0, 6).Select(bit => (mask >> bit & 1) == 1 ? "+" : "a");
            var filter = string.Join('/', levels);
            filters.Add(filter);
            tree.AddOrReplace(filter, "c", filter);
        }
        Assert.Equal(filters.Order(StringComparer.Ordinal), MatchSorted(tree, "a/a/a/a/a/a"));
        Assert.Equal(["+/+/+/+/+/+"], MatchSorted(tree, "b/b/b/b/b/b"));
    }

    // ---- randomized cross-check against the reference matcher ----------------------------------------------------

    [Fact]
    public void RandomizedOperations_AgreeWithTheReferenceMatcher()
    {
        var random = new Random(20240611);
        string[] levelWords = ["a", "b", "A", "", "$x", "sport", "é"];
        string RandomTopic()
        {
            while (true)
            {
                var count = random.Next(1, 5);
                var topic = string.Join('/', Enumerable.Range(0, count).Select(_ => levelWords[random.Next(levelWords.Length)]));
                if (TopicRules.IsValidTopicName(topic)) return topic; // not the empty topic
            }
        }
        string RandomFilter()
        {
            var count = random.Next(1, 5);
            var levels = new string[count];
            for (var i = 0; i < count; i++)
            {
                var roll = random.Next(10);
                levels[i] = roll < 2 ? "+" : roll == 2 && i == count - 1 ? "#" : levelWords[random.Next(levelWords.Length)];
            }
            var filter = string.Join('/', levels);
            return TopicRules.IsValidTopicFilter(filter) ? filter : RandomFilter(); // not the empty filter
        }

        var tree = new TopicTree<int, string>();
        var reference = new Dictionary<(string Filter, int Key), string>();
        var filterPool = Enumerable.Range(0, 150).Select(_ => RandomFilter()).Distinct().ToArray();
        var results = new List<string>();
        for (var step = 0; step < 20_000; step++)
        {
            var filter = filterPool[random.Next(filterPool.Length)];
            var key = random.Next(12);
            if (random.Next(3) != 0)
            {
                var value = $"{filter}|{key}|{step}";
                Assert.Equal(!reference.ContainsKey((filter, key)), tree.AddOrReplace(filter, key, value));
                reference[(filter, key)] = value;
            }
            else
            {
                Assert.Equal(reference.Remove((filter, key)), tree.Remove(filter, key));
            }
            Assert.Equal(reference.Count, tree.Count);

            if (step % 10 != 0) continue;
            for (var probe = 0; probe < 4; probe++)
            {
                var topic = RandomTopic();
                results.Clear();
                tree.Match(topic, results);
                results.Sort(StringComparer.Ordinal);
                var expected = reference.Where(p => ReferenceMatches(p.Key.Filter, topic)).Select(p => p.Value)
                    .Order(StringComparer.Ordinal);
                Assert.Equal(expected, results);
            }
        }

        foreach (var (filter, key) in reference.Keys.ToList()) Assert.True(tree.Remove(filter, key));
        Assert.Equal(0, tree.Count);
        Assert.Equal(0, tree.NodeCount());
    }

    [Fact]
    public void ReferenceMatcher_AgreesWithTheSpecExamples()
    {
        // Guards the oracle itself.
        Assert.True(ReferenceMatches("sport/#", "sport"));
        Assert.True(ReferenceMatches("+/+", "/finance"));
        Assert.False(ReferenceMatches("+", "/finance"));
        Assert.False(ReferenceMatches("sport/+", "sport"));
        Assert.False(ReferenceMatches("#", "$SYS/x"));
        Assert.True(ReferenceMatches("$SYS/#", "$SYS"));
    }

    // ---- concurrency -----------------------------------------------------------------------------------------------

    /// <summary>
    /// Writers churn subscriptions on overlapping filters while readers match. Invariants checked on every Match:
    /// pairs that never change are seen exactly once; every value returned belongs to a filter matching the topic;
    /// no value whose pair was removed or replaced before the Match began is returned. Bounded to about 1.5 s.
    /// </summary>
    [Fact]
    public void ConcurrentMutation_NeverBreaksMatchInvariants()
    {
        var tree = new TopicTree<string, string>();
        string[] stableFilters = ["s/+/x", "s/#", "#", "s/a/x", "s/a/+"];
        foreach (var filter in stableFilters) tree.AddOrReplace(filter, "stable", $"{filter}|stable|0");
        string[] churnFilters =
        [
            "s/a/x", "s/+/x", "s/#", "#", "+/a/x", "s/a/+", "s/b/x", "t/#", "s/a/x/y", "+/+/+", "s/a", "s/+", "$SYS/#",
            "s/a/#", "+/#", "s//x", "s/A/x",
        ];
        string[] topics = ["s/a/x", "s/b/x", "s/a", "t/u", "$SYS/a", "s//x", "s/a/x/y"];

        long retireSequence = 0;
        var retired = new ConcurrentDictionary<string, long>(); // value → sequence number once gone from the tree
        var failures = new ConcurrentQueue<string>();
        var stop = 0;
        var deadline = Stopwatch.StartNew();

        var finalPairs = new ConcurrentDictionary<(string, string), string>();
        void Writer(int id)
        {
            try
            {
                var random = new Random(1000 + id);
                var mine = new Dictionary<(string Filter, string Key), string>();
                var generation = 0;
                while (Volatile.Read(ref stop) == 0)
                {
                    var filter = churnFilters[random.Next(churnFilters.Length)];
                    var key = $"w{id}-{random.Next(30)}"; // crosses the small/table boundary on busy filters
                    if (random.Next(2) == 0)
                    {
                        var value = $"{filter}|{key}|{++generation}";
                        tree.AddOrReplace(filter, key, value);
                        if (mine.TryGetValue((filter, key), out var old))
                            retired[old] = Interlocked.Increment(ref retireSequence);
                        mine[(filter, key)] = value;
                    }
                    else if (mine.Remove((filter, key), out var old))
                    {
                        if (!tree.Remove(filter, key)) failures.Enqueue($"remove of present {filter} {key} failed");
                        retired[old] = Interlocked.Increment(ref retireSequence);
                    }
                    else if (tree.Remove(filter, key))
                    {
                        failures.Enqueue($"remove of absent {filter} {key} succeeded");
                    }
                }
                foreach (var (pair, value) in mine) finalPairs[pair] = value;
            }
            catch (Exception e)
            {
                failures.Enqueue(e.ToString());
            }
        }

        var matches = 0L;
        void Reader(int id)
        {
            try
            {
                var results = new List<string>();
                var seen = new HashSet<string>();
                var i = id;
                while (Volatile.Read(ref stop) == 0)
                {
                    var topic = topics[i++ % topics.Length];
                    var startSequence = Interlocked.Read(ref retireSequence);
                    results.Clear();
                    tree.Match(topic, results);
                    Interlocked.Increment(ref matches);
                    seen.Clear();
                    foreach (var value in results)
                    {
                        if (!seen.Add(value)) failures.Enqueue($"{value} twice for {topic}");
                        var filter = value[..value.IndexOf('|')];
                        if (!ReferenceMatches(filter, topic)) failures.Enqueue($"{value} returned for {topic}");
                        if (retired.TryGetValue(value, out var sequence) && sequence <= startSequence)
                            failures.Enqueue($"{value} returned for {topic} after it was removed");
                    }
                    foreach (var filter in stableFilters)
                    {
                        if (ReferenceMatches(filter, topic) != seen.Contains($"{filter}|stable|0"))
                            failures.Enqueue($"stable {filter} wrong for {topic}");
                    }
                    if (failures.Count > 20) break;
                }
            }
            catch (Exception e)
            {
                failures.Enqueue(e.ToString());
            }
        }

        var threads = new List<Thread>();
        for (var w = 0; w < 2; w++) { var id = w; threads.Add(new Thread(() => Writer(id))); }
        for (var r = 0; r < 2; r++) { var id = r; threads.Add(new Thread(() => Reader(id))); }
        foreach (var thread in threads) thread.Start();
        while (deadline.Elapsed < TimeSpan.FromSeconds(1.5) && failures.IsEmpty) Thread.Sleep(20);
        Volatile.Write(ref stop, 1);
        foreach (var thread in threads) Assert.True(thread.Join(TimeSpan.FromSeconds(30)));

        Assert.Empty(failures);
        Assert.True(Interlocked.Read(ref matches) > 100, $"only {matches} matches ran");

        // Quiescent: the tree holds exactly the stable pairs plus what each writer last left.
        Assert.Equal(stableFilters.Length + finalPairs.Count, tree.Count);
        foreach (var topic in topics)
        {
            var expected = finalPairs.Where(p => ReferenceMatches(p.Key.Item1, topic)).Select(p => p.Value)
                .Concat(stableFilters.Where(f => ReferenceMatches(f, topic)).Select(f => $"{f}|stable|0"))
                .Order(StringComparer.Ordinal);
            Assert.Equal(expected, MatchSorted(tree, topic));
        }
    }

    /// <summary>
    /// Readers match one crowded filter and one wide level while a writer grows and shrinks both across the
    /// small-array/table boundary (promotion, slot reuse, reallocation, demotion). The untouched pairs must be seen
    /// exactly once in every Match.
    /// </summary>
    [Fact]
    public void ConcurrentGrowAndShrink_KeepsUntouchedPairsVisibleExactlyOnce()
    {
        var tree = new TopicTree<int, int>();
        const int stableKey = -1;
        tree.AddOrReplace("crowd", stableKey, -1);
        tree.AddOrReplace("wide/stable", stableKey, -2);
        var failures = new ConcurrentQueue<string>();
        var stop = 0;

        var writer = new Thread(() =>
        {
            try
            {
                var random = new Random(3);
                while (Volatile.Read(ref stop) == 0)
                {
                    var n = random.Next(1, 200);
                    for (var i = 0; i < n; i++)
                    {
                        tree.AddOrReplace("crowd", i, i);
                        tree.AddOrReplace($"wide/{i}", 0, i);
                    }
                    for (var i = 0; i < n; i++)
                    {
                        tree.Remove("crowd", i);
                        tree.Remove($"wide/{i}", 0);
                    }
                }
            }
            catch (Exception e)
            {
                failures.Enqueue(e.ToString());
            }
        });

        void Reader()
        {
            try
            {
                var results = new List<int>();
                while (Volatile.Read(ref stop) == 0 && failures.IsEmpty)
                {
                    results.Clear();
                    tree.Match("crowd", results);
                    var stableSeen = results.Count(v => v == -1);
                    if (stableSeen != 1) failures.Enqueue($"stable crowd value seen {stableSeen} times");
                    if (results.Count != results.Distinct().Count()) failures.Enqueue("a crowd value seen twice");

                    results.Clear();
                    tree.Match("wide/stable", results);
                    if (results is not [-2]) failures.Enqueue($"wide/stable gave [{string.Join(",", results)}]");
                }
            }
            catch (Exception e)
            {
                failures.Enqueue(e.ToString());
            }
        }

        var readers = new[] { new Thread(Reader), new Thread(Reader) };
        writer.Start();
        foreach (var reader in readers) reader.Start();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(1) && failures.IsEmpty) Thread.Sleep(20);
        Volatile.Write(ref stop, 1);
        Assert.True(writer.Join(TimeSpan.FromSeconds(30)));
        foreach (var reader in readers) Assert.True(reader.Join(TimeSpan.FromSeconds(30)));

        Assert.Empty(failures);
        Assert.Equal(2, tree.Count);
        Assert.Equal(3, tree.NodeCount()); // crowd, wide, wide/stable: every churned node was pruned.
    }
}
