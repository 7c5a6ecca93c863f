using System.Net;
using Gatehouse.Security.Authentication;
using Gatehouse.Security.Quotas;

namespace Gatehouse.Security.Tests.Unit;

public sealed class BruteForceGuardTests
{
    private static readonly BruteForceOptions Options = new() { MaxFailures = 3, WindowSeconds = 60, BanSeconds = 10, MaxBanSeconds = 25 };

    [Fact]
    public void Max_failures_ban_the_address_and_the_user_name_until_the_ban_expires()
    {
        var time = new ManualTime();
        var guard = new BruteForceGuard(Options, time);
        Assert.Null(guard.RecordFailure("10.0.0.1", "dev1"));
        Assert.Null(guard.RecordFailure("10.0.0.1", "dev1"));
        var bans = guard.RecordFailure("10.0.0.1", "dev1");
        Assert.NotNull(bans);
        Assert.Equal([BruteForceGuard.AddressKey("10.0.0.1"), BruteForceGuard.IdentityKey("dev1")], bans.Select(b => b.Key));

        Assert.True(guard.IsBanned("10.0.0.1", null, out _));
        Assert.True(guard.IsBanned("10.9.9.9", "dev1", out var byName)); // the user name from anywhere
        Assert.Equal(BruteForceGuard.IdentityKey("dev1"), byName.Key);
        Assert.False(guard.IsBanned("10.9.9.9", "dev2", out _));

        time.Advance(TimeSpan.FromSeconds(10));
        Assert.False(guard.IsBanned("10.0.0.1", "dev1", out _));
    }

    [Fact]
    public void Each_further_ban_doubles_up_to_the_maximum()
    {
        var time = new ManualTime();
        var guard = new BruteForceGuard(Options, time);
        TimeSpan BanLength()
        {
            List<BruteForceGuard.Ban>? bans = null;
            for (var i = 0; i < Options.MaxFailures; i++) bans = guard.RecordFailure("10.0.0.2", null);
            var length = bans!.Single().Until - time.GetUtcNow();
            time.Advance(length);
            return length;
        }
        Assert.Equal(TimeSpan.FromSeconds(10), BanLength());
        Assert.Equal(TimeSpan.FromSeconds(20), BanLength());
        Assert.Equal(TimeSpan.FromSeconds(25), BanLength()); // capped
    }

    [Fact]
    public void Failures_outside_the_window_do_not_add_up_and_success_clears_the_user_name_count()
    {
        var time = new ManualTime();
        var guard = new BruteForceGuard(Options, time);
        guard.RecordFailure("a", "dev1");
        guard.RecordFailure("b", "dev1");
        time.Advance(TimeSpan.FromSeconds(61));
        Assert.Null(guard.RecordFailure("c", "dev1"));
        Assert.Null(guard.RecordFailure("d", "dev1"));
        guard.RecordSuccess("dev1");
        Assert.Null(guard.RecordFailure("e", "dev1"));
        Assert.False(guard.IsBanned(null, "dev1", out _));
    }

    [Fact]
    public void Disabled_guard_never_bans()
    {
        var guard = new BruteForceGuard(new BruteForceOptions { Enabled = false, MaxFailures = 1 }, new ManualTime());
        Assert.Null(guard.RecordFailure("a", "dev1"));
        Assert.False(guard.IsBanned("a", "dev1", out _));
    }

    [Fact]
    public void Quiet_unbanned_keys_are_pruned()
    {
        var time = new ManualTime();
        var guard = new BruteForceGuard(Options, time);
        guard.RecordFailure("a", null);
        time.Advance(TimeSpan.FromSeconds(61));
        guard.Prune(time.GetUtcNow());
        Assert.Equal(0, guard.TrackedKeys);
    }

    [Fact]
    public void The_address_key_maps_ipv4_in_ipv6_to_ipv4()
    {
        Assert.Equal("127.0.0.1", BruteForceGuard.AddressOf(IPAddress.Parse("::ffff:127.0.0.1")));
    }

    [Fact]
    public void Connection_rate_per_address_is_a_token_bucket()
    {
        var time = new ManualTime();
        var limiter = new ConnectionRateLimiter(new ConnectionRateOptions { PerAddressPerSecond = 1, PerAddressBurst = 2 }, time);
        Assert.Null(limiter.TryAdmit("tcp", "a"));
        Assert.Null(limiter.TryAdmit("tcp", "a"));
        Assert.Equal("address", limiter.TryAdmit("tcp", "a"));
        Assert.Null(limiter.TryAdmit("tcp", "b"));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(limiter.TryAdmit("tcp", "a"));
    }
}
