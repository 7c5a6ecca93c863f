using Gatehouse.Protocol;

namespace Gatehouse.Storage.Tests;

/// <summary>
/// What every <see cref="IBrokerStore"/> must do, run against each implementation by the subclasses. Times are whole
/// milliseconds, the precision the durable stores keep.
/// </summary>
public abstract class BrokerStoreContractTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1_750_000_000_123);

    protected IBrokerStore Store { get; set; } = null!;

    protected abstract Task<IBrokerStore> CreateStoreAsync();

    /// <summary>The snapshot a restarted broker would get; durable stores reopen their files first.</summary>
    protected virtual Task<StoreSnapshot> LoadAsync() => Store.LoadAsync(CancellationToken.None).AsTask();

    public async Task InitializeAsync() => Store = await CreateStoreAsync();

    public virtual async Task DisposeAsync() => await Store.DisposeAsync();

    protected static SessionRecord Session(string clientId, WillRecord? will = null, uint expiry = 3600) =>
        new(clientId, ProtocolVersion.V500, expiry, T0, will);

    protected static ApplicationMessage Message(long id, string topic = "a/b", int size = 16, MqttProperties? properties = null) => new()
    {
        Id = id,
        Topic = topic,
        Payload = Enumerable.Range(0, size).Select(i => (byte)(i * 7 + id)).ToArray(),
        QoS = QoS.AtLeastOnce,
        Properties = properties,
    };

    protected static QueuedDeliveryRecord To(string clientId, QoS qos = QoS.AtLeastOnce) => new(clientId, qos, false, null, null);

    private static StoredSession Find(StoreSnapshot snapshot, string clientId) =>
        Assert.Single(snapshot.Sessions, s => s.Session.ClientId == clientId);

    [Fact]
    public async Task Empty_store_loads_nothing()
    {
        var snapshot = await LoadAsync();
        Assert.Empty(snapshot.Sessions);
        Assert.Empty(snapshot.Messages);
        Assert.Empty(snapshot.Retained);
    }

    [Fact]
    public async Task Session_with_will_round_trips_every_field()
    {
        var will = new ApplicationMessage
        {
            Id = 77,
            Topic = "will/topic",
            Payload = "gone"u8.ToArray(),
            QoS = QoS.ExactlyOnce,
            Retain = true,
            ExpiresAt = T0.AddSeconds(90),
            PublisherClientId = "c1",
            Properties = new MqttProperties
            {
                PayloadFormatIndicator = 1,
                ContentType = "text/plain",
                ResponseTopic = "reply/here",
                CorrelationData = new byte[] { 1, 2, 3 },
                UserProperties = [new("k", "v1"), new("k", "v1"), new("a", "ü")],
            },
        };
        var session = new SessionRecord("c1", ProtocolVersion.V311, uint.MaxValue, T0, new WillRecord(will, T0.AddSeconds(30)));
        await Store.SaveSession(session);
        await Store.SaveSession(Session("c2") with { DisconnectedAt = null, ProtocolVersion = ProtocolVersion.V310 });

        var snapshot = await LoadAsync();
        Assert.Equal(2, snapshot.Sessions.Count);
        StoreAssert.Session(session, Find(snapshot, "c1").Session);
        StoreAssert.Session(Session("c2") with { DisconnectedAt = null, ProtocolVersion = ProtocolVersion.V310 }, Find(snapshot, "c2").Session);
    }

    [Fact]
    public async Task A_connected_clients_armed_will_is_saved_with_its_delay_and_expiry_then_replaced_by_a_pending_will()
    {
        var armed = new ArmedWillRecord(Message(7, "will/armed", properties: new MqttProperties { ContentType = "text/plain" }),
            DelaySeconds: 30, MessageExpirySeconds: 120);
        var connected = Session("c1") with { DisconnectedAt = null, ArmedWill = armed };
        await Store.SaveSession(connected);
        await Store.SaveSession(Session("c2", expiry: 0) with { DisconnectedAt = null, ArmedWill = armed with { DelaySeconds = 0, MessageExpirySeconds = null } });

        var snapshot = await LoadAsync();
        StoreAssert.Session(connected, Find(snapshot, "c1").Session);
        StoreAssert.Session(Session("c2", expiry: 0) with { DisconnectedAt = null, ArmedWill = armed with { DelaySeconds = 0, MessageExpirySeconds = null } },
            Find(snapshot, "c2").Session);

        // The connection closed: the will now waits for its delay, and is no longer armed.
        var closed = Session("c1", new WillRecord(Message(8, "will/armed"), T0.AddSeconds(30)));
        await Store.SaveSession(closed);
        StoreAssert.Session(closed, Find(await LoadAsync(), "c1").Session);
    }

    [Fact]
    public async Task Saving_a_session_again_replaces_expiry_and_will()
    {
        await Store.SaveSession(Session("c1", new WillRecord(Message(5), T0)));
        var updated = Session("c1", expiry: 10) with { DisconnectedAt = T0.AddMinutes(1) };
        await Store.SaveSession(updated);

        var snapshot = await LoadAsync();
        StoreAssert.Session(updated, Find(snapshot, "c1").Session);
    }

    [Fact]
    public async Task Subscriptions_are_saved_replaced_and_deleted()
    {
        await Store.SaveSession(Session("c1"));
        var first = new SubscriptionRecord("a/+", QoS.AtLeastOnce, NoLocal: true, RetainAsPublished: false, RetainHandling: 2, SubscriptionIdentifier: 268_435_455);
        await Store.SaveSubscription("c1", first);
        await Store.SaveSubscription("c1", new SubscriptionRecord("$share/g/x/#", QoS.ExactlyOnce, false, true, 0, null));
        await Store.SaveSubscription("c1", new SubscriptionRecord("gone", QoS.AtMostOnce, false, false, 0, null));
        var replaced = first with { MaximumQoS = QoS.ExactlyOnce, NoLocal = false, SubscriptionIdentifier = 4 };
        await Store.SaveSubscription("c1", replaced);
        await Store.DeleteSubscription("c1", "gone");
        await Store.DeleteSubscription("c1", "never-there");

        var subscriptions = Find(await LoadAsync(), "c1").Subscriptions.OrderBy(s => s.TopicFilter, StringComparer.Ordinal).ToList();
        Assert.Equal([new SubscriptionRecord("$share/g/x/#", QoS.ExactlyOnce, false, true, 0, null), replaced], subscriptions);
    }

    [Fact]
    public async Task Changes_for_a_session_that_is_not_stored_are_ignored()
    {
        await Store.SaveSubscription("nobody", new SubscriptionRecord("a", QoS.AtMostOnce, false, false, 0, null));
        await Store.AddIncomingQoS2("nobody", 1);
        await Store.Enqueue(Message(1), [To("nobody")]);
        await Store.UpdateDelivery("nobody", 1, 5, DeliveryState.AwaitingAck);
        await Store.RemoveDelivery("nobody", 1);
        await Store.DeleteSession("nobody");

        var snapshot = await LoadAsync();
        Assert.Empty(snapshot.Sessions);
        Assert.Empty(snapshot.Messages);
    }

    [Fact]
    public async Task Enqueue_to_several_sessions_stores_the_body_once_and_the_last_removal_deletes_it()
    {
        foreach (var id in new[] { "c1", "c2", "c3" }) await Store.SaveSession(Session(id));
        var message = Message(42, properties: new MqttProperties { ContentType = "application/json" });
        var deliveries = new[]
        {
            new QueuedDeliveryRecord("c1", QoS.AtLeastOnce, true, [1, 300, 70_000], null),
            new QueuedDeliveryRecord("c2", QoS.ExactlyOnce, false, null, "g/sensors/#"),
            new QueuedDeliveryRecord("c3", QoS.AtMostOnce, false, null, null),
            To("not-stored"),
        };
        await Store.Enqueue(message, deliveries);

        var snapshot = await LoadAsync();
        var body = Assert.Single(snapshot.Messages);
        Assert.Equal(42, body.Key);
        StoreAssert.Message(message, body.Value);
        StoreAssert.Delivery(deliveries[0], Assert.Single(Find(snapshot, "c1").Deliveries), 42);
        StoreAssert.Delivery(deliveries[1], Assert.Single(Find(snapshot, "c2").Deliveries), 42);
        StoreAssert.Delivery(deliveries[2], Assert.Single(Find(snapshot, "c3").Deliveries), 42);

        await Store.RemoveDelivery("c1", 42);
        await Store.RemoveDelivery("c2", 42);
        snapshot = await LoadAsync();
        Assert.Single(snapshot.Messages);
        Assert.Empty(Find(snapshot, "c1").Deliveries);

        await Store.RemoveDelivery("c3", 42);
        snapshot = await LoadAsync();
        Assert.Empty(snapshot.Messages);
        Assert.All(snapshot.Sessions, s => Assert.Empty(s.Deliveries));
    }

    [Fact]
    public async Task Queue_keeps_the_order_messages_were_queued_in()
    {
        await Store.SaveSession(Session("c1"));
        await Store.SaveSession(Session("c2"));
        await Store.Enqueue(Message(10), [To("c1"), To("c2")]);
        await Store.Enqueue(Message(20), [To("c1")]);
        await Store.Enqueue(Message(30), [To("c1")]);
        // Queued again later (a shared-subscription message moving to another member): last in c2's queue.
        await Store.Enqueue(Message(30), [To("c2")]);
        await Store.Enqueue(Message(5), [To("c2")]);
        await Store.Enqueue(Message(30), [To("c2")]); // already queued there: ignored

        var snapshot = await LoadAsync();
        Assert.Equal(new long[] { 10, 20, 30 }, Find(snapshot, "c1").Deliveries.Select(d => d.MessageId));
        // Queue order, not message-id order, in every store.
        Assert.Equal(new long[] { 10, 30, 5 }, Find(snapshot, "c2").Deliveries.Select(d => d.MessageId));
        Assert.Equal(4, snapshot.Messages.Count);
    }

    [Fact]
    public async Task Delivery_state_is_updated_and_survives()
    {
        await Store.SaveSession(Session("c1"));
        await Store.Enqueue(Message(1), [To("c1", QoS.ExactlyOnce)]);
        await Store.Enqueue(Message(2), [To("c1")]);
        await Store.UpdateDelivery("c1", 1, 65535, DeliveryState.AwaitingAck);
        await Store.UpdateDelivery("c1", 1, 65535, DeliveryState.AwaitingComp);
        await Store.UpdateDelivery("c1", 2, 7, DeliveryState.AwaitingAck);
        await Store.UpdateDelivery("c1", 99, 8, DeliveryState.AwaitingAck); // not queued: ignored

        var deliveries = Find(await LoadAsync(), "c1").Deliveries;
        Assert.Equal(2, deliveries.Count);
        StoreAssert.Delivery(To("c1", QoS.ExactlyOnce), deliveries[0], 1, 65535, DeliveryState.AwaitingComp);
        StoreAssert.Delivery(To("c1"), deliveries[1], 2, 7, DeliveryState.AwaitingAck);
    }

    [Fact]
    public async Task Retained_messages_are_saved_replaced_and_deleted()
    {
        var first = Message(1, "r/1", properties: new MqttProperties { UserProperties = [new("x", "y")] });
        await Store.SaveRetained(first);
        await Store.SaveRetained(Message(2, "r/2"));
        var replacement = new ApplicationMessage
        {
            Id = 3, Topic = "r/1", Payload = ReadOnlyMemory<byte>.Empty, QoS = QoS.ExactlyOnce, Retain = true,
            ExpiresAt = T0.AddHours(1), PublisherClientId = "pub",
        };
        await Store.SaveRetained(replacement);
        await Store.SaveRetained(Message(4, "r/3"));
        await Store.DeleteRetained("r/3");
        await Store.DeleteRetained("never");

        var retained = (await LoadAsync()).Retained.OrderBy(m => m.Topic, StringComparer.Ordinal).ToList();
        Assert.Equal(2, retained.Count);
        StoreAssert.Message(replacement, retained[0]);
        StoreAssert.Message(Message(2, "r/2"), retained[1]);
    }

    [Fact]
    public async Task Incoming_QoS2_packet_ids_are_added_and_removed()
    {
        await Store.SaveSession(Session("c1"));
        await Store.AddIncomingQoS2("c1", 1);
        await Store.AddIncomingQoS2("c1", 65535);
        await Store.AddIncomingQoS2("c1", 300);
        await Store.AddIncomingQoS2("c1", 300);
        await Store.RemoveIncomingQoS2("c1", 1);
        await Store.RemoveIncomingQoS2("c1", 2);

        Assert.Equal(new ushort[] { 300, 65535 }, Find(await LoadAsync(), "c1").IncomingQoS2.Order());
    }

    [Fact]
    public async Task A_message_enqueued_with_its_publishers_QoS2_packet_id_records_both()
    {
        await Store.SaveSession(Session("publisher"));
        await Store.SaveSession(Session("c1"));
        await Store.Enqueue(Message(1), [To("c1", QoS.ExactlyOnce)], new AcceptedQoS2("publisher", 7));

        var snapshot = await LoadAsync();
        Assert.Equal(new ushort[] { 7 }, Find(snapshot, "publisher").IncomingQoS2);
        Assert.Equal(1L, Assert.Single(Find(snapshot, "c1").Deliveries).MessageId);
        Assert.Empty(Find(snapshot, "c1").IncomingQoS2);
    }

    [Fact]
    public async Task Deleting_a_session_removes_its_subscriptions_queue_and_packet_ids_and_releases_bodies()
    {
        await Store.SaveSession(Session("c1"));
        await Store.SaveSession(Session("c2"));
        await Store.SaveSubscription("c1", new SubscriptionRecord("a", QoS.AtLeastOnce, false, false, 0, null));
        await Store.AddIncomingQoS2("c1", 9);
        await Store.Enqueue(Message(1), [To("c1")]);
        await Store.Enqueue(Message(2), [To("c1"), To("c2")]);
        await Store.DeleteSession("c1");

        var snapshot = await LoadAsync();
        var c2 = Assert.Single(snapshot.Sessions);
        Assert.Equal("c2", c2.Session.ClientId);
        Assert.Equal(2, Assert.Single(snapshot.Messages).Key);

        // A new session with the same id starts empty.
        await Store.SaveSession(Session("c1"));
        var c1 = Find(await LoadAsync(), "c1");
        Assert.Empty(c1.Subscriptions);
        Assert.Empty(c1.Deliveries);
        Assert.Empty(c1.IncomingQoS2);
    }

    [Fact]
    public async Task Submissions_complete_in_order_and_all_are_applied()
    {
        await Store.SaveSession(Session("c1"));
        var pending = new List<Task>();
        for (var i = 1; i <= 500; i++)
        {
            pending.Add(Store.Enqueue(Message(i), [To("c1")]).AsTask());
            if (i % 3 == 0) pending.Add(Store.RemoveDelivery("c1", i).AsTask());
        }
        await Task.WhenAll(pending);

        var snapshot = await LoadAsync();
        var expected = Enumerable.Range(1, 500).Where(i => i % 3 != 0).Select(i => (long)i).ToList();
        Assert.Equal(expected, Find(snapshot, "c1").Deliveries.Select(d => d.MessageId));
        Assert.Equal(expected.Count, snapshot.Messages.Count);
    }
}

public sealed class MemoryBrokerStoreContractTests : BrokerStoreContractTests
{
    protected override Task<IBrokerStore> CreateStoreAsync() => Task.FromResult<IBrokerStore>(new MemoryBrokerStore());
}
