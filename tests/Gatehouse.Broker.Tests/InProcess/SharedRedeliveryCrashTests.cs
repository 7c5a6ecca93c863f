using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Storage;
using Gatehouse.Testing;

namespace Gatehouse.Broker.Tests.InProcess;

/// <summary>
/// A shared-subscription member that leaves gives its unacknowledged QoS 1 messages to another member: written to the
/// store as the other member's queue entry and the removal of its own. A crash may stop the store after any of those
/// writes; whatever survives, every message must still reach the group after the restart (at least once: QoS 1).
/// </summary>
public sealed class SharedRedeliveryCrashTests
{
    private static readonly MqttProperties OneInFlight = new() { SessionExpiryInterval = 600, ReceiveMaximum = 1 };

    /// <summary>
    /// Acknowledges and records what the members receive until every expected payload has arrived (the test's success:
    /// no quiet window to outlast) or 10 s have passed.
    /// </summary>
    private static async Task<List<string>> ReceiveAsync(IReadOnlyList<MqttTestClient> members, IReadOnlyCollection<string> expected)
    {
        var received = new List<string>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!expected.All(received.Contains) && DateTime.UtcNow < deadline)
        {
            foreach (var member in members)
            {
                PublishPacket publish;
                try
                {
                    publish = await member.ReceivePublishAsync(TimeSpan.FromMilliseconds(100));
                }
                catch (MqttTestException)
                {
                    continue; // nothing for this member just now
                }
                received.Add(System.Text.Encoding.UTF8.GetString(publish.Payload.Span));
                await member.AckAsync(publish);
            }
        }
        return received;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public async Task Messages_a_leaving_member_hands_over_reach_the_group_whichever_writes_survived_the_crash(int writesThatSurvive)
    {
        var store = new PowerCutStore(new MemoryBrokerStore());
        var topic = UniqueNames.Topic("handover");
        var filter = "$share/g/" + topic;

        var before = await InProcessBroker.StartAsync(store: store);
        IReadOnlyList<string> held;
        try
        {
            // Offline: still a member, takes what the other one leaves.
            await before.SubscribeOfflineAsync("handover-b", filter, QoS.AtLeastOnce, OneInFlight);
            var leaver = await MqttTestClient.ConnectNewAsync(before.Port, ProtocolVersion.V500, "handover-a", properties: OneInFlight);
            await leaver.SubscribeGrantedAsync(filter, QoS.AtLeastOnce);

            // Round-robin prefers the connected member: a gets m1 in flight and m2 queued behind its window of one.
            await using var publisher = await MqttTestClient.ConnectNewAsync(before.Port, ProtocolVersion.V500, "handover-p");
            await publisher.PublishAsync(topic, "m1", QoS.AtLeastOnce);
            await publisher.PublishAsync(topic, "m2", QoS.AtLeastOnce);
            Assert.Equal("m1", System.Text.Encoding.UTF8.GetString((await leaver.ReceivePublishAsync()).Payload.Span));

            store.Hold();
            await leaver.AbortAsync();
            await before.WaitOfflineAsync("handover-a");
            await Task.Delay(200); // the hand-over's writes follow the disconnect in the same call
            held = store.Held;
            store.CutPower(writesThatSurvive);
        }
        finally
        {
            await before.DisposeAsync();
        }

        await using var after = await InProcessBroker.StartAsync(store: store.Disk);
        await using var a = await MqttTestClient.OpenAsync(after.Port, ProtocolVersion.V500, "handover-a");
        await a.ConnectAsync("handover-a", cleanStart: false, keepAlive: 0, OneInFlight);
        await using var b = await MqttTestClient.OpenAsync(after.Port, ProtocolVersion.V500, "handover-b");
        await b.ConnectAsync("handover-b", cleanStart: false, keepAlive: 0, OneInFlight);
        var received = await ReceiveAsync([a, b], ["m1", "m2"]);
        var context = $"{PowerCutStore.Describe(held, writesThatSurvive)}; the group received {string.Join(", ", received)}";
        Assert.True(received.Contains("m1") && received.Contains("m2"), context);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Messages_of_a_member_whose_session_ends_reach_the_group_whichever_writes_survived_the_crash(int writesThatSurvive)
    {
        var store = new PowerCutStore(new MemoryBrokerStore());
        var topic = UniqueNames.Topic("ending");
        var filter = "$share/g/" + topic;
        var expected = new[] { "m1", "m2", "m3", "m4" };
        var persistent = new MqttProperties { SessionExpiryInterval = 600 };

        var before = await InProcessBroker.StartAsync(store: store);
        IReadOnlyList<string> held;
        try
        {
            foreach (var clientId in new[] { "ending-a", "ending-b" }) await before.SubscribeOfflineAsync(clientId, filter, QoS.AtLeastOnce, persistent);
            // Both members offline: round-robin queues two messages with each.
            await using (var publisher = await MqttTestClient.ConnectNewAsync(before.Port, ProtocolVersion.V500, "ending-p"))
            {
                foreach (var payload in expected) await publisher.PublishAsync(topic, payload, QoS.AtLeastOnce);
            }

            store.Hold();
            // a starts clean: its session ends, and what it held for the group goes to b.
            var restart = await MqttTestClient.OpenAsync(before.Port, ProtocolVersion.V500, "ending-a");
            await restart.SendAsync(MqttTestClient.Encode(new Gatehouse.Protocol.Packets.ConnectPacket
            {
                ProtocolVersion = ProtocolVersion.V500, ClientId = "ending-a", CleanStart = true,
            }, ProtocolVersion.V500));
            await Eventually.Assert(() => store.Held.Count > 0, "the session's end reached the store");
            await Task.Delay(200); // the rest of the end's writes are submitted by the same call
            held = store.Held;
            await restart.AbortAsync(); // no CONNACK: it waited for the store
            store.CutPower(writesThatSurvive);
        }
        finally
        {
            await before.DisposeAsync();
        }

        await using var after = await InProcessBroker.StartAsync(store: store.Disk);
        // a never had its CONNACK, so it starts clean again.
        await using (var again = await MqttTestClient.ConnectNewAsync(after.Port, ProtocolVersion.V500, "ending-a"))
        {
            await again.DisconnectAsync();
        }
        await using var stayer = await MqttTestClient.OpenAsync(after.Port, ProtocolVersion.V500, "ending-b");
        await stayer.ConnectAsync("ending-b", cleanStart: false, keepAlive: 0, persistent);
        var received = await ReceiveAsync([stayer], expected);
        var context = $"{PowerCutStore.Describe(held, writesThatSurvive)}; b received {string.Join(", ", received)}";
        Assert.True(expected.All(received.Contains), context);
    }
}
