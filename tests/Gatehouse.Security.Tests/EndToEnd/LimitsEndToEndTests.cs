using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;

namespace Gatehouse.Security.Tests.EndToEnd;

/// <summary>Rate limits, quotas, brute-force bans and <c>gatehouse audit</c> against the real server process.</summary>
public sealed class LimitsEndToEndTests
{
    private static ReadOnlyMemory<byte> Bytes(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public async Task A_client_over_its_message_rate_gets_0x96_for_QoS_1_and_QoS_0_is_dropped_without_disconnecting()
    {
        var data = SecureServer.NewDataDirectory();
        // 1 message per 100 s after a burst of 3: the test cannot be slow enough to earn a token back.
        await SecureServer.AddIdentityAsync(data, "dev1", "pw", "--meta", "limits.MessagesPerSecond=0.01", "--meta", "limits.MessagesBurst=3");
        await using var server = await SecureServer.StartAsync(data);

        await using var watcher = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500);
        await watcher.ConnectAsync("watcher");
        await watcher.SubscribeGrantedAsync("t/#");

        await using var client = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500);
        Assert.Equal(ReasonCode.Success, (await client.ConnectAsync("dev1", userName: "dev1", password: Bytes("pw"))).ReasonCode);
        for (var i = 0; i < 3; i++)
        {
            var ack = await client.PublishAsync("t/a", "in budget", QoS.AtLeastOnce);
            Assert.Equal(ReasonCode.Success, ((PubAckPacket)ack!).ReasonCode);
        }
        var refused = await client.PublishAsync("t/a", "over", QoS.AtLeastOnce);
        Assert.Equal(ReasonCode.MessageRateTooHigh, ((PubAckPacket)refused!).ReasonCode);
        var refused2 = await client.PublishAsync("t/a", "over", QoS.ExactlyOnce);
        Assert.Equal(ReasonCode.MessageRateTooHigh, ((PubRecPacket)refused2!).ReasonCode);
        await client.PublishAsync("t/a", "dropped", QoS.AtMostOnce);
        await client.PingAsync(); // still connected

        var received = await watcher.ReceivePublishesAsync(3);
        Assert.All(received, p => Assert.Equal("in budget", Encoding.UTF8.GetString(p.Payload.Span)));
        await watcher.ExpectNoPacketAsync();
        await WaitForAuditAsync(data, "RateLimited", "--identity", "dev1");
    }

    [Fact]
    public async Task Sessions_and_subscriptions_beyond_the_identity_quota_get_0x97()
    {
        var data = SecureServer.NewDataDirectory();
        await SecureServer.AddIdentityAsync(data, "dev1", "pw");
        await using var server = await SecureServer.StartAsync(data, "--Security:Limits:MaxSessions=1", "--Security:Limits:MaxSubscriptions=2");

        await using var first = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500);
        Assert.Equal(ReasonCode.Success, (await first.ConnectAsync("dev1-a", userName: "dev1", password: Bytes("pw"))).ReasonCode);
        await using var second = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500);
        Assert.Equal(ReasonCode.QuotaExceeded, (await second.ConnectAsync("dev1-b", userName: "dev1", password: Bytes("pw"))).ReasonCode);

        var suback = await first.SubscribeAsync([new TopicSubscription { TopicFilter = "a" }, new TopicSubscription { TopicFilter = "b" }, new TopicSubscription { TopicFilter = "c" }]);
        Assert.Equal([ReasonCode.Success, ReasonCode.Success, ReasonCode.QuotaExceeded], suback.ReasonCodes);
        await first.UnsubscribeAsync("a");
        Assert.Equal([ReasonCode.Success], (await first.SubscribeAsync("c")).ReasonCodes);

        // The session quota is released when the connection ends, and so are the subscriptions it held (a clean session).
        await first.DisposeAsync();
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            await using var again = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500);
            var code = (await again.ConnectAsync("dev1-b", userName: "dev1", password: Bytes("pw"))).ReasonCode;
            if (code == ReasonCode.Success)
            {
                var resubscribed = await again.SubscribeAsync([new TopicSubscription { TopicFilter = "a" }, new TopicSubscription { TopicFilter = "b" }]);
                Assert.Equal([ReasonCode.Success, ReasonCode.Success], resubscribed.ReasonCodes);
                break;
            }
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(10), $"still {code}");
            await Task.Delay(50);
        }
        await WaitForAuditAsync(data, "QuotaExceeded", "--identity", "dev1");
    }

    [Fact]
    public async Task Retained_messages_beyond_the_identity_quota_get_0x97_and_clearing_one_gives_room()
    {
        var data = SecureServer.NewDataDirectory();
        await SecureServer.AddIdentityAsync(data, "dev1", "pw", "--meta", "limits.MaxRetainedMessages=2");
        await using var server = await SecureServer.StartAsync(data);
        await using var client = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500);
        Assert.Equal(ReasonCode.Success, (await client.ConnectAsync("dev1", userName: "dev1", password: Bytes("pw"))).ReasonCode);

        async Task<ReasonCode> Retain(string topic, string payload) =>
            ((PubAckPacket)(await client.PublishAsync(topic, payload, QoS.AtLeastOnce, retain: true))!).ReasonCode;
        Assert.Equal(ReasonCode.NoMatchingSubscribers, await Retain("r/1", "x"));
        Assert.Equal(ReasonCode.NoMatchingSubscribers, await Retain("r/2", "x"));
        Assert.Equal(ReasonCode.QuotaExceeded, await Retain("r/3", "x"));
        Assert.Equal(ReasonCode.NoMatchingSubscribers, await Retain("r/1", "")); // clear
        Assert.Equal(ReasonCode.NoMatchingSubscribers, await Retain("r/3", "x"));

        await using var reader = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500);
        await reader.ConnectAsync("reader");
        await reader.SubscribeGrantedAsync("r/#");
        var retained = await reader.ReceivePublishesAsync(2);
        Assert.Equal(["r/2", "r/3"], retained.Select(p => p.Topic).Order());
        await reader.ExpectNoPacketAsync();
    }

    [Fact]
    public async Task Repeated_wrong_passwords_ban_the_client_with_0x8A_even_with_the_right_password_until_the_ban_expires()
    {
        var data = SecureServer.NewDataDirectory();
        await SecureServer.AddIdentityAsync(data, "dev1", "right");
        await using var server = await SecureServer.StartAsync(data,
            "--Security:BruteForce:MaxFailures=3", "--Security:BruteForce:BanSeconds=4", "--Security:BruteForce:MaxBanSeconds=4");

        // The ban (4 s) leaves the two refused connections below room for a pause of the loaded test process (2 s left
        // little). The clock starts before the failures, so the ban cannot have begun before it: a pause only lengthens
        // the time measured until the ban is lifted, never shortens it.
        var banned = Stopwatch.StartNew();
        for (var i = 0; i < 3; i++)
        {
            await using var guess = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500);
            Assert.Equal(ReasonCode.BadUserNameOrPassword, (await guess.ConnectAsync("dev1", userName: "dev1", password: Bytes("guess" + i))).ReasonCode);
        }
        await using (var v5 = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500))
        {
            Assert.Equal(ReasonCode.Banned, (await v5.ConnectAsync("dev1", userName: "dev1", password: Bytes("right"))).ReasonCode);
        }
        await using (var v311 = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V311))
        {
            // 3.1.1 return code 5 (not authorized) on the wire.
            Assert.Equal(ReasonCode.NotAuthorized, (await v311.ConnectAsync("dev1", userName: "dev1", password: Bytes("right"))).ReasonCode);
        }

        // The ban is lifted after BanSeconds.
        while (true)
        {
            await using var retry = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500);
            var code = (await retry.ConnectAsync("dev1", userName: "dev1", password: Bytes("right"))).ReasonCode;
            if (code == ReasonCode.Success) break;
            Assert.Equal(ReasonCode.Banned, code);
            Assert.True(banned.Elapsed < TimeSpan.FromSeconds(15), "the ban was not lifted");
            await Task.Delay(100);
        }
        Assert.True(banned.Elapsed > TimeSpan.FromSeconds(3), $"lifted after {banned.Elapsed}");

        var failures = await WaitForAuditAsync(data, "AuthenticationFailed", "--identity", "dev1", "--json");
        using var json = JsonDocument.Parse(failures);
        Assert.Equal(3, json.RootElement.GetArrayLength());
        Assert.All(json.RootElement.EnumerateArray(), e => Assert.Equal(0x86, e.GetProperty("reasonCode").GetInt32()));
        var bans = await WaitForAuditAsync(data, "Banned", "--since", "10m");
        Assert.Contains("identity dev1 banned", bans, StringComparison.Ordinal);
        Assert.Contains("address 127.0.0.1 banned", bans, StringComparison.Ordinal);
        await WaitForAuditAsync(data, "BanRefused");
    }

    [Fact]
    public async Task Connection_rate_per_address_refuses_with_0x9F()
    {
        await using var server = await ServerProcess.StartAsync("--Security:ConnectionRate:PerAddressPerSecond=0.01", "--Security:ConnectionRate:PerAddressBurst=2");
        for (var i = 0; i < 2; i++)
        {
            await using var ok = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500);
            Assert.Equal(ReasonCode.Success, (await ok.ConnectAsync("c" + i)).ReasonCode);
        }
        await using var refused = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500);
        Assert.Equal(ReasonCode.ConnectionRateExceeded, (await refused.ConnectAsync("c3")).ReasonCode);
    }

    [Fact]
    public async Task Audit_cli_rejects_bad_arguments()
    {
        var data = SecureServer.NewDataDirectory();
        var (exit, output) = await SecureServer.CliAsync(data, "audit", "--kind", "Nope");
        Assert.NotEqual(0, exit);
        Assert.Contains("unknown --kind", output, StringComparison.Ordinal);
        (exit, output) = await SecureServer.CliAsync(data, "audit", "--since", "soon");
        Assert.NotEqual(0, exit);
        (exit, output) = await SecureServer.CliAsync(data, "audit");
        Assert.True(exit == 0, output);
    }

    /// <summary>Polls <c>gatehouse audit --kind KIND ...</c> until it prints a row (the audit log writes in the background).</summary>
    private static async Task<string> WaitForAuditAsync(string data, string kind, params string[] more)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var (exit, output) = await SecureServer.CliAsync(data, ["audit", "--kind", kind, .. more]);
            Assert.True(exit == 0, output);
            if (output.Contains(kind, StringComparison.Ordinal)) return output;
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(15), $"no {kind} audit row: {output}");
            await Task.Delay(200);
        }
    }
}
