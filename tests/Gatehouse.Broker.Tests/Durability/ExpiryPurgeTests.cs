using Gatehouse.Broker.Tests.BlackBox;
using Gatehouse.Protocol;
using Gatehouse.Storage.Embedded;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.Durability;

/// <summary>
/// The store does not grow with messages nobody can receive: expired messages queued for an offline session leave the
/// store (and memory) while it stays offline, and an expired session leaves with its queue.
/// </summary>
public sealed class ExpiryPurgeTests(ITestOutputHelper output) : BlackBoxTest(null, output)
{

    [Fact]
    public async Task Expired_messages_queued_for_an_offline_session_are_removed_from_the_store_while_it_is_offline()
    {
        var server = await StartServerAsync(new ServerProcessOptions { Storage = "sqlite" });
        var port = server.MqttPort;
        var topic = UniqueNames.Topic("purge");
        var subscriberId = UniqueNames.ClientId("purge-sub");
        var persistent = new MqttProperties { SessionExpiryInterval = 600 };
        await using (var subscriber = await MqttTestClient.ConnectNewAsync(port, ProtocolVersion.V500, subscriberId, cleanStart: false, properties: persistent))
        {
            await subscriber.SubscribeGrantedAsync(topic + "/#", QoS.ExactlyOnce);
            await subscriber.DisconnectAsync();
        }
        // Gone in 3 s (long enough to count them all in the store first, even on a loaded machine): QoS 1 and QoS 2;
        // and one that lasts.
        await using (var publisher = await MqttTestClient.ConnectNewAsync(port, ProtocolVersion.V500, UniqueNames.ClientId("purge-pub")))
        {
            for (var i = 0; i < 10; i++)
            {
                await publisher.PublishAsync($"{topic}/short/{i}", "x", i % 2 == 0 ? QoS.AtLeastOnce : QoS.ExactlyOnce,
                    properties: new MqttProperties { MessageExpiryInterval = 3 });
            }
            await publisher.PublishAsync($"{topic}/long", "kept", QoS.AtLeastOnce, properties: new MqttProperties { MessageExpiryInterval = 600 });
        }
        Assert.Equal(11, SqliteStoreMaintenance.Statistics(server.DataDirectory).Deliveries);

        // The housekeeping sweep (every 5 s) removes the expired ones; the session never reconnected meanwhile.
        await Eventually.Assert(() => SqliteStoreMaintenance.Statistics(server.DataDirectory) is { Deliveries: 1, Messages: 1 },
            "only the unexpired message is left in the store", TimeSpan.FromSeconds(15));
        var check = SqliteStoreMaintenance.Check(server.DataDirectory);
        Assert.True(check.Count == 0, string.Join("\n", check));

        await using var resumed = await MqttTestClient.ConnectNewAsync(port, ProtocolVersion.V500, subscriberId, cleanStart: false, properties: persistent);
        var publish = await resumed.ReceivePublishAsync();
        Assert.Equal($"{topic}/long", publish.Topic);
        await resumed.AckAsync(publish);
        await resumed.ExpectNoPacketAsync();
    }

    [Fact]
    public async Task An_expired_session_leaves_the_store_with_its_subscriptions_and_queue()
    {
        var server = await StartServerAsync(new ServerProcessOptions { Storage = "sqlite" });
        var port = server.MqttPort;
        var topic = UniqueNames.Topic("expire");
        await using (var subscriber = await MqttTestClient.ConnectNewAsync(port, ProtocolVersion.V500, UniqueNames.ClientId("expire-sub"),
            cleanStart: false, properties: new MqttProperties { SessionExpiryInterval = 1 }))
        {
            await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
            await subscriber.DisconnectAsync();
        }
        await using (var publisher = await MqttTestClient.ConnectNewAsync(port, ProtocolVersion.V311, UniqueNames.ClientId("expire-pub")))
        {
            for (var i = 0; i < 5; i++) await publisher.PublishAsync(topic, "x", QoS.AtLeastOnce);
        }
        await Eventually.Assert(() => SqliteStoreMaintenance.Statistics(server.DataDirectory) is
            { Sessions: 0, Subscriptions: 0, Deliveries: 0, Messages: 0 }, "the expired session is gone from the store", TimeSpan.FromSeconds(10));
    }
}
