using Gatehouse.Bench;
using Gatehouse.Protocol;

namespace Gatehouse.Bench.Tests;

public class AccountingTests
{
    [Fact]
    public void Payload_round_trips_publisher_sequence_and_timestamp()
    {
        var payload = Payload.Create(64, publisher: 42);
        Assert.Equal(64, payload.Length);
        Payload.Stamp(payload, sequence: 1_234_567_890_123, timestamp: -5);
        Assert.True(Payload.TryRead(payload, out var publisher, out var sequence, out var timestamp));
        Assert.Equal(42u, publisher);
        Assert.Equal(1_234_567_890_123, sequence);
        Assert.Equal(-5, timestamp);
    }

    [Fact]
    public void Payload_is_at_least_the_header_size()
    {
        Assert.Equal(Payload.MinSize, Payload.Create(1, 0).Length);
    }

    [Fact]
    public void Foreign_payloads_are_not_read()
    {
        Assert.False(Payload.TryRead("hello, this is not a bench payload"u8, out _, out _, out _));
        Assert.False(Payload.TryRead("GB"u8, out _, out _, out _));
    }

    [Fact]
    public void Tracker_counts_duplicates_and_out_of_order_arrivals()
    {
        var t = new SequenceTracker();
        foreach (var s in new long[] { 1, 2, 2, 4, 3, 5, 1 }) t.Record(s);
        Assert.Equal(5, t.Unique);
        Assert.Equal(2, t.Duplicates);
        Assert.Equal(1, t.OutOfOrder); // 3 after 4
        Assert.Equal(5, t.MaxSequence);
        Assert.Equal(0, t.Gaps);
    }

    [Fact]
    public void Tracker_gaps_are_missing_sequences_below_the_highest()
    {
        var t = new SequenceTracker();
        foreach (var s in new long[] { 1, 3, 6 }) t.Record(s);
        Assert.Equal(3, t.Gaps); // 2, 4, 5
    }

    [Fact]
    public void Sequence_set_counts_across_chunk_boundaries()
    {
        var set = new SequenceSet();
        for (long s = 1; s <= 200_000; s++)
            if (s % 3 != 0) Assert.True(set.Add(s));
        Assert.False(set.Add(1));
        Assert.Equal(200_000 - 200_000 / 3, set.Count);
        Assert.Equal(100_000 - 100_000 / 3, set.CountInRange(100_000));
        Assert.Equal(set.Count, set.CountInRange(1_000_000));
        Assert.True(set.Contains(65_537));
        Assert.False(set.Contains(65_538)); // a multiple of 3
        Assert.False(set.Contains(0));
    }

    [Fact]
    public void Sequence_set_difference_counts_members_missing_from_the_other()
    {
        var acknowledged = new SequenceSet();
        var seen = new SequenceSet();
        for (long s = 1; s <= 150_000; s++)
        {
            acknowledged.Add(s);
            if (s != 7 && s != 70_000 && s != 140_001) seen.Add(s);
        }
        seen.Add(200_000); // received but never acknowledged: not a loss
        Assert.Equal(3, acknowledged.CountMissingFrom(seen));
        Assert.Equal(1, seen.CountMissingFrom(acknowledged));
    }

    [Fact]
    public void QoS0_loss_is_sent_minus_received()
    {
        var seen = new SequenceSet();
        for (long s = 1; s <= 90; s++) seen.Add(s);
        Assert.Equal(10, BenchRunner.Lost(QoS.AtMostOnce, sent: 100, acknowledged: null, seen));
        Assert.Equal(100, BenchRunner.Lost(QoS.AtMostOnce, sent: 100, acknowledged: null, seen: null));
    }

    [Fact]
    public void QoS1_loss_counts_only_acknowledged_messages_never_received()
    {
        var acknowledged = new SequenceSet();
        for (long s = 1; s <= 10; s++) acknowledged.Add(s); // 11 and 12 were sent but never acknowledged
        var seen = new SequenceSet();
        foreach (var s in new long[] { 1, 2, 3, 5, 6, 7, 8, 9, 11 }) seen.Add(s);
        Assert.Equal(2, BenchRunner.Lost(QoS.AtLeastOnce, sent: 12, acknowledged, seen)); // 4 and 10
        Assert.Equal(10, BenchRunner.Lost(QoS.AtLeastOnce, sent: 12, acknowledged, seen: null));
    }

    [Fact]
    public void Counts_are_split_over_publishers_exactly()
    {
        Assert.Equal([34, 33, 33], BenchRunner.SplitCount(100, 3));
        Assert.Equal(long.MaxValue, BenchRunner.SplitCount(null, 2)[1]);
    }

    [Theory]
    [InlineData("bench/{i}", 7, 3, "bench/7", "bench/+")]
    [InlineData("a/{i}/b/{n}", 2, 9, "a/2/b/9", "a/+/b/+")]
    [InlineData("fixed/topic", 1, 1, "fixed/topic", "fixed/topic")]
    public void Topic_placeholders_expand_and_become_wildcards(string pattern, int client, long sequence, string topic, string filter)
    {
        Assert.Equal(topic, Topics.Expand(pattern, client, sequence));
        Assert.Equal(filter, Topics.FilterFor(pattern));
    }

    [Fact]
    public async Task A_broker_that_is_not_there_fails_the_run_with_the_reason()
    {
        var port = Gatehouse.Testing.FreePort.Next();
        var ex = await Assert.ThrowsAsync<BenchException>(() => BenchRunner.RunAsync(
            new BenchOptions { Scenario = Scenarios.Pub, Port = port, Count = 10 }, null, CancellationToken.None));
        Assert.Contains("no connection succeeded", ex.Message);
    }

    [Fact]
    public void Scenario_defaults_match_issue_5()
    {
        var fanIn = new BenchOptions { Scenario = Scenarios.FanIn }.Resolve();
        Assert.Equal(100, fanIn.Clients);
        Assert.Equal(0, fanIn.QoS);
        var backlog = new BenchOptions { Scenario = Scenarios.Backlog }.Resolve();
        Assert.Equal(100_000, backlog.Count);
        Assert.Equal(1, backlog.QoS);
        var counted = new BenchOptions { Scenario = Scenarios.Pub, Count = 5 }.Resolve();
        Assert.Equal(0, counted.DurationSeconds); // a count without a duration runs until the count is reached
        Assert.Throws<BenchException>(() => new BenchOptions { Scenario = "nope" }.Validate());
    }
}
