using Gatehouse.Security.Identities;
using Gatehouse.Security.Quotas;

namespace Gatehouse.Security.Tests.Unit;

public sealed class TokenBucketTests
{
    [Fact]
    public void A_full_bucket_gives_its_burst_then_refills_at_the_rate()
    {
        var time = new ManualTime();
        var bucket = new TokenBucket(rate: 10, burst: 5, time);
        for (var i = 0; i < 5; i++) Assert.True(bucket.TryTake());
        Assert.False(bucket.TryTake());
        time.Advance(TimeSpan.FromMilliseconds(100)); // one token
        Assert.True(bucket.TryTake());
        Assert.False(bucket.TryTake());
        time.Advance(TimeSpan.FromSeconds(60)); // refills to the burst, not beyond
        Assert.Equal(5, bucket.Available, 6);
    }

    [Fact]
    public void An_amount_larger_than_the_burst_passes_on_a_full_bucket_and_leaves_a_debt()
    {
        var time = new ManualTime();
        var bytes = new TokenBucket(rate: 100, burst: 100, time);
        Assert.True(bytes.TryTake(250));
        Assert.Equal(-150, bytes.Available, 6);
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.False(bytes.TryTake(100)); // 50 available
        time.Advance(TimeSpan.FromSeconds(0.5));
        Assert.True(bytes.TryTake(100));
    }

    [Fact]
    public void Taking_a_token_does_not_allocate()
    {
        var bucket = new TokenBucket(1e9, 1e9, new ManualTime());
        bucket.TryTake();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++) bucket.TryTake(10);
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }
}

public sealed class IdentityQuotaTests
{
    private static readonly IdentitySnapshot Identities = new([
        new Identity { Name = "slow", Metadata = new Dictionary<string, string> { ["limits.MessagesPerSecond"] = "2", ["limits.MaxSessions"] = "1" } },
        new Identity { Name = "free" },
    ]);

    [Fact]
    public void Connections_of_one_identity_share_one_budget_and_metadata_overrides_the_defaults()
    {
        var time = new ManualTime();
        var registry = new QuotaRegistry(new LimitsOptions { MessagesPerSecond = 100 }, time);
        var a = registry.For(new ClientPrincipal("slow", "slow-a"), Identities)!;
        var b = registry.For(new ClientPrincipal("slow", "slow-b"), Identities)!;
        Assert.Same(a, b);
        Assert.True(a.TryPublish(10));
        Assert.True(b.TryPublish(10));
        Assert.False(a.TryPublish(10));
        Assert.Equal(1, a.RateLimited);
        Assert.Equal(100, registry.For(new ClientPrincipal("free", "free"), Identities)!.Limits.MessagesPerSecond);
    }

    [Fact]
    public void No_limits_configured_means_no_quota_object()
    {
        var registry = new QuotaRegistry(new LimitsOptions(), new ManualTime());
        Assert.Null(registry.For(new ClientPrincipal("free", "free"), Identities));
        Assert.Null(registry.For(new ClientPrincipal(null, "anon"), Identities));
    }

    [Fact]
    public void Sessions_count_distinct_client_ids_and_a_takeover_is_not_a_second_session()
    {
        var quota = new IdentityQuota("slow", new LimitsOptions { MaxSessions = 1 }, new ManualTime());
        Assert.True(quota.TryAcquireSession("slow-a"));
        Assert.True(quota.TryAcquireSession("slow-a")); // takeover while the old connection is closing
        Assert.False(quota.TryAcquireSession("slow-b"));
        quota.ReleaseSession("slow-a");
        Assert.False(quota.TryAcquireSession("slow-b"));
        quota.ReleaseSession("slow-a");
        Assert.True(quota.TryAcquireSession("slow-b"));
    }

    [Fact]
    public void Subscriptions_are_refused_beyond_the_quota_and_released()
    {
        var quota = new IdentityQuota("x", new LimitsOptions { MaxSubscriptions = 2 }, new ManualTime());
        Assert.True(quota.TryAddSubscription());
        Assert.True(quota.TryAddSubscription());
        Assert.False(quota.TryAddSubscription());
        quota.AdjustSubscriptions(-1);
        Assert.True(quota.TryAddSubscription());
    }

    [Fact]
    public void Rate_limit_audits_at_most_once_a_second()
    {
        var time = new ManualTime();
        var quota = new IdentityQuota("x", new LimitsOptions { MessagesPerSecond = 1 }, time);
        Assert.True(quota.ShouldAudit());
        Assert.False(quota.ShouldAudit());
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(quota.ShouldAudit());
    }

    [Fact]
    public void Retained_quota_counts_topics_and_bytes_and_is_given_back_when_cleared_or_replaced()
    {
        var registry = new QuotaRegistry(new LimitsOptions(), new ManualTime());
        var quota = new IdentityQuota("x", new LimitsOptions { MaxRetainedMessages = 2, MaxRetainedBytes = 100 }, new ManualTime());
        Assert.True(registry.TryRetain(quota, "a", 10));
        Assert.True(registry.TryRetain(quota, "a", 20)); // same topic: replaces, not a second message
        Assert.True(registry.TryRetain(quota, "b", 10));
        Assert.Equal((2, 30L), quota.Retained);
        Assert.False(registry.TryRetain(quota, "c", 1)); // third topic
        Assert.False(registry.TryRetain(quota, "b", 81)); // 20 + 81 > 100
        Assert.True(registry.TryRetain(quota, "b", 0)); // cleared
        Assert.True(registry.TryRetain(null, "a", 5)); // replaced by an unlimited client
        Assert.Equal((0, 0L), quota.Retained);
        Assert.True(registry.TryRetain(quota, "c", 100));
    }

    [Fact]
    public void Bad_limit_metadata_is_rejected()
    {
        Assert.Throws<FormatException>(() => new LimitsOptions().WithOverrides(new Dictionary<string, string> { ["limits.Nope"] = "1" }));
        Assert.Throws<FormatException>(() => new LimitsOptions().WithOverrides(new Dictionary<string, string> { ["limits.MaxSessions"] = "-1" }));
    }
}
