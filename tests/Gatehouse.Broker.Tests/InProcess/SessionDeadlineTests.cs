using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;

namespace Gatehouse.Broker.Tests.InProcess;

/// <summary>
/// Delayed wills and session expiry against a clock the test moves: what a client finds when it reconnects after a
/// deadline that no timer has acted on yet, and that the deadline queue stays correct when it drops stale entries.
/// </summary>
public sealed class SessionDeadlineTests : InProcessBrokerTest
{
    private static WillMessage Will(string topic, uint delaySeconds) => new()
    {
        Topic = topic, Payload = "gone"u8.ToArray(), Properties = new MqttProperties { WillDelayInterval = delaySeconds },
    };

    private static MqttProperties Expiry(uint seconds) => new() { SessionExpiryInterval = seconds };

    private async Task<MqttTestClient> WatchAsync(string topic)
    {
        var watcher = await Hub.ConnectAsync("watcher-" + topic);
        await watcher.SubscribeGrantedAsync(topic);
        return watcher;
    }

    /// <summary>A watcher subscribed to will/<paramref name="id"/>, and client <paramref name="id"/> gone offline with a delayed will there.</summary>
    private async Task<MqttTestClient> OfflineWithWillAsync(string id, uint expirySeconds, uint willDelaySeconds)
    {
        var watcher = await WatchAsync("will/" + id);
        var client = await Hub.ConnectAsync(id, properties: Expiry(expirySeconds), will: Will("will/" + id, willDelaySeconds));
        await DropAsync(client, id);
        return watcher;
    }

    /// <summary>Drops the connection without DISCONNECT and waits until the broker has seen it go.</summary>
    private async Task DropAsync(MqttTestClient client, string clientId)
    {
        await client.AbortAsync();
        await Hub.WaitOfflineAsync(clientId);
    }

    private async Task<ConnAckPacket> ReconnectAsync(string clientId, uint expirySeconds)
    {
        var client = await MqttTestClient.OpenAsync(Hub.Port, ProtocolVersion.V500, clientId);
        return await client.ConnectAsync(clientId, cleanStart: false, keepAlive: 0, Expiry(expirySeconds));
    }

    [Fact]
    public async Task The_will_goes_out_when_its_delay_ends_and_not_before()
    {
        // [MQTT-3.1.3-9]: published when the Will Delay Interval has passed (or the session ended, if earlier).
        var watcher = await OfflineWithWillAsync("punctual", expirySeconds: 60, willDelaySeconds: 10);

        Hub.Clock.Advance(TimeSpan.FromSeconds(9.9));
        Hub.Clock.RunDueTimers();
        await watcher.ExpectNoPacketAsync();

        Hub.Clock.Advance(TimeSpan.FromSeconds(0.1));
        Hub.Clock.RunDueTimers();
        Assert.Equal("gone", Text((await watcher.ReceivePublishAsync()).Payload));
        Assert.True(Hub.Broker.Sessions.Find("punctual") is { IsConnected: false }, "the session outlives its will (expiry 60 s)");
    }

    [Fact]
    public async Task Reconnecting_after_the_will_delay_but_before_the_broker_acted_publishes_the_will_and_resumes_the_session()
    {
        // Only a connection within the delay cancels the will [MQTT-3.1.3-9]; the session itself has not expired.
        var watcher = await OfflineWithWillAsync("late", expirySeconds: 60, willDelaySeconds: 10);

        Hub.Clock.Advance(TimeSpan.FromSeconds(10.5)); // no timer runs: the reconnect gets there first
        var connAck = await ReconnectAsync("late", 60);
        Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        Assert.True(connAck.SessionPresent);
        Assert.Equal("gone", Text((await watcher.ReceivePublishAsync()).Payload));

        Hub.Clock.Advance(TimeSpan.FromSeconds(30));
        Hub.Clock.RunDueTimers();
        await watcher.ExpectNoPacketAsync(); // published once, not again by the deadline that was queued for it
    }

    [Fact]
    public async Task Reconnecting_after_the_session_expired_but_before_the_broker_acted_finds_no_session_and_the_will_goes_out()
    {
        // [MQTT-3.1.2-23]: the session is gone at its expiry, sweep or no sweep; the will goes with it [MQTT-3.1.3-9].
        var watcher = await OfflineWithWillAsync("expired", expirySeconds: 5, willDelaySeconds: 30);

        Hub.Clock.Advance(TimeSpan.FromSeconds(6));
        var connAck = await ReconnectAsync("expired", 60);
        Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        Assert.False(connAck.SessionPresent);
        Assert.Equal("gone", Text((await watcher.ReceivePublishAsync()).Payload));

        Hub.Clock.Advance(TimeSpan.FromSeconds(60));
        Hub.Clock.RunDueTimers();
        await watcher.ExpectNoPacketAsync();
    }

    [Fact]
    public async Task Reconnecting_within_the_will_delay_cancels_the_will()
    {
        var watcher = await OfflineWithWillAsync("cancelled", expirySeconds: 60, willDelaySeconds: 10);

        Hub.Clock.Advance(TimeSpan.FromSeconds(9));
        var connAck = await ReconnectAsync("cancelled", 60);
        Assert.True(connAck.SessionPresent);

        Hub.Clock.Advance(TimeSpan.FromSeconds(120));
        Hub.Clock.RunDueTimers();
        await watcher.ExpectNoPacketAsync();
    }

    [Fact]
    public async Task Stale_deadlines_are_dropped_and_the_sessions_still_waiting_expire_on_time()
    {
        // Sessions with a week-long expiry that reconnect with Clean Start leave stale entries behind; once those
        // outnumber the live ones by the margin the queue is rebuilt. A few sessions keep waiting with short expiries.
        const int Churn = 1_200;
        var waiting = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var id = $"waiting-{i}";
            await DropAsync(await Hub.ConnectAsync(id, properties: Expiry(100)), id);
            waiting.Add(id);
        }
        foreach (var ids in Enumerable.Range(0, Churn).Select(i => $"churn-{i}").Chunk(100))
        {
            var clients = await Task.WhenAll(ids.Select(id => Hub.ConnectAsync(id, properties: Expiry(7 * 24 * 3600))));
            await Task.WhenAll(clients.Select(client => client.AbortAsync()));
            await Eventually.Assert(() => ids.All(id => Hub.Broker.Sessions.Find(id) is { IsConnected: false }), "the clients are offline");
            var again = await Task.WhenAll(ids.Select(id => Hub.ConnectAsync(id, cleanStart: true))); // ends the week-long sessions
            await Task.WhenAll(again.Select(client => client.DisconnectAsync()));
        }

        var sessions = Hub.Broker.Sessions;
        Assert.InRange(sessions.QueuedDeadlines, 0, 2 * sessions.WaitingSessions + 1024);
        Assert.Equal(3, sessions.WaitingSessions);

        Hub.Clock.Advance(TimeSpan.FromSeconds(99));
        Hub.Clock.RunDueTimers();
        Assert.All(waiting, id => Assert.NotNull(sessions.Find(id)));
        Hub.Clock.Advance(TimeSpan.FromSeconds(1));
        Hub.Clock.RunDueTimers();
        Assert.All(waiting, id => Assert.Null(sessions.Find(id)));
        Assert.Equal(0, sessions.WaitingSessions);
    }

    private static string Text(ReadOnlyMemory<byte> bytes) => System.Text.Encoding.UTF8.GetString(bytes.Span);
}
