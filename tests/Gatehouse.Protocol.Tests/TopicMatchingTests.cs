using Gatehouse.Protocol.Topics;
using Xunit;

namespace Gatehouse.Protocol.Tests;

/// <summary>Filter-to-topic matching (section 4.7), with the specification's own examples.</summary>
public sealed class TopicMatchingTests
{
    [Theory]
    // 4.7.1.2: "sport/tennis/player1/#" matches these; '#' includes the parent level.
    [InlineData("sport/tennis/player1/#", "sport/tennis/player1")]
    [InlineData("sport/tennis/player1/#", "sport/tennis/player1/ranking")]
    [InlineData("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon")]
    [InlineData("sport/#", "sport")]
    [InlineData("#", "sport/tennis")]
    // 4.7.1.3: '+' is exactly one level, which may be empty.
    [InlineData("sport/tennis/+", "sport/tennis/player1")]
    [InlineData("sport/+", "sport/")]
    [InlineData("+/+", "/finance")]
    [InlineData("/+", "/finance")]
    [InlineData("+/tennis/#", "sport/tennis")]
    // Exact, with empty levels and case kept.
    [InlineData("a//b", "a//b")]
    [InlineData("$SYS/broker/uptime", "$SYS/broker/uptime")]
    [InlineData("$SYS/#", "$SYS/broker/uptime")]
    public void Filter_matches_topic(string filter, string topic) => Assert.True(TopicRules.Matches(filter, topic));

    [Theory]
    [InlineData("sport/tennis/+", "sport/tennis/player1/ranking")]
    [InlineData("sport/+", "sport")]
    [InlineData("+", "/finance")]
    [InlineData("sport/tennis", "Sport/Tennis")]
    [InlineData("a/b", "a/b/c")]
    [InlineData("a/b/c", "a/b")]
    [InlineData("a//b", "a/b")]
    // [MQTT-4.7.2-1] a leading wildcard does not match a topic starting with '$'.
    [InlineData("#", "$SYS/broker/uptime")]
    [InlineData("+/monitor/Clients", "$SYS/monitor/Clients")]
    public void Filter_does_not_match_topic(string filter, string topic) => Assert.False(TopicRules.Matches(filter, topic));
}
