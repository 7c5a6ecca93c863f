using Gatehouse.Protocol;
using Gatehouse.Storage.Embedded;

using static Gatehouse.Storage.Tests.SqliteTestRecords;

namespace Gatehouse.Storage.Tests;

/// <summary>
/// How one batch is applied: writes that a later removal of the same batch undoes are dropped, and removals are grouped
/// into multi-row deletes, without changing what the submissions in order would leave. Each test holds the writer on a
/// gate, submits, then opens the gate so that everything submitted lands in one batch; the store is then closed, its
/// files checked (reference counts included) and reopened.
/// </summary>
public sealed class SqliteBatchTests : IAsyncLifetime
{
    private readonly TempDirectory _directory = new();
    private SqliteBrokerStore _store = null!;

    public Task InitializeAsync()
    {
        _store = SqliteBrokerStore.Open(new SqliteStoreOptions { DataDirectory = _directory.Path });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        _directory.Dispose();
    }

    /// <summary>Closes the store, checks the files' invariants, reopens and loads.</summary>
    private async Task<StoreSnapshot> Reopen()
    {
        await _store.DisposeAsync();
        Assert.Empty(SqliteStoreMaintenance.Check(_directory.Path));
        _store = SqliteBrokerStore.Open(new SqliteStoreOptions { DataDirectory = _directory.Path });
        return await _store.LoadAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Enqueue_and_remove_in_one_batch_leave_neither_delivery_nor_body_and_both_complete()
    {
        await _store.SaveSession(Session("c"));
        var commitsBefore = _store.Statistics.Commits;

        await _store.InOneBatch(s => [s.Enqueue(Message(1), [To("c")]).AsTask(), s.RemoveDelivery("c", 1).AsTask()]);

        Assert.Equal(commitsBefore + 1, _store.Statistics.Commits);
        Assert.Equal(1, _store.Statistics.CoalescedWrites);
        var snapshot = await Reopen();
        Assert.Empty(Assert.Single(snapshot.Sessions).Deliveries);
        Assert.Empty(snapshot.Messages);
    }

    [Fact]
    public async Task A_QoS2_packet_id_enqueued_with_its_message_is_kept_when_the_batch_undoes_the_delivery()
    {
        // The publisher's id must stay even though no queue entry of its message is written: the message was delivered.
        await _store.SaveSession(Session("publisher"));
        await _store.SaveSession(Session("c"));

        await _store.InOneBatch(s =>
            [s.Enqueue(Message(1), [To("c")], new AcceptedQoS2("publisher", 42)).AsTask(), s.RemoveDelivery("c", 1).AsTask()]);

        Assert.Equal(1, _store.Statistics.CoalescedWrites);
        var snapshot = await Reopen();
        Assert.Equal([(ushort)42], snapshot.Sessions.Single(x => x.Session.ClientId == "publisher").IncomingQoS2);
        Assert.Empty(snapshot.Messages);
    }

    [Fact]
    public async Task Update_then_remove_in_one_batch_leaves_nothing()
    {
        await _store.SaveSession(Session("c"));
        await _store.Enqueue(Message(1), [To("c")]);

        await _store.InOneBatch(s => [s.UpdateDelivery("c", 1, 7, DeliveryState.AwaitingAck).AsTask(), s.RemoveDelivery("c", 1).AsTask()]);

        Assert.Equal(1, _store.Statistics.CoalescedWrites);
        var snapshot = await Reopen();
        Assert.Empty(Assert.Single(snapshot.Sessions).Deliveries);
        Assert.Empty(snapshot.Messages);
    }

    [Fact]
    public async Task Removing_one_sessions_delivery_never_removes_another_sessions_delivery_of_the_same_body()
    {
        await _store.SaveSession(Session("a"));
        await _store.SaveSession(Session("b"));
        await _store.Enqueue(Message(1), [To("a"), To("b")]);

        await _store.InOneBatch(s =>
        [
            s.Enqueue(Message(2), [To("a"), To("b")]).AsTask(),
            s.UpdateDelivery("a", 1, 1, DeliveryState.AwaitingAck).AsTask(),
            s.UpdateDelivery("b", 1, 9, DeliveryState.AwaitingAck).AsTask(),
            s.RemoveDelivery("a", 1).AsTask(),
            s.RemoveDelivery("a", 2).AsTask(),
        ]);

        Assert.Equal(2, _store.Statistics.CoalescedWrites);
        var snapshot = await Reopen();
        Assert.Empty(snapshot.Sessions.Single(x => x.Session.ClientId == "a").Deliveries);
        var b = snapshot.Sessions.Single(x => x.Session.ClientId == "b").Deliveries;
        Assert.Equal([(1L, (ushort)9, DeliveryState.AwaitingAck), (2L, (ushort)0, DeliveryState.Queued)],
            b.Select(d => (d.MessageId, d.PacketId, d.State)));
        Assert.Equal([1L, 2L], snapshot.Messages.Keys.Order());
    }

    [Fact]
    public async Task A_removal_does_not_undo_what_is_submitted_after_it()
    {
        await _store.SaveSession(Session("c"));

        await _store.InOneBatch(s =>
        [
            s.RemoveDelivery("c", 1).AsTask(),
            s.Enqueue(Message(1), [To("c")]).AsTask(),
            s.Enqueue(Message(2), [To("c")]).AsTask(),
            s.RemoveDelivery("c", 2).AsTask(),
            s.Enqueue(Message(2), [To("c")]).AsTask(),
            s.UpdateDelivery("c", 2, 5, DeliveryState.AwaitingAck).AsTask(),
        ]);

        var snapshot = await Reopen();
        Assert.Equal([(1L, (ushort)0, DeliveryState.Queued), (2L, (ushort)5, DeliveryState.AwaitingAck)],
            Assert.Single(snapshot.Sessions).Deliveries.Select(d => (d.MessageId, d.PacketId, d.State)));
        Assert.Equal([1L, 2L], snapshot.Messages.Keys.Order());
    }

    [Fact]
    public async Task A_removal_still_deletes_a_delivery_stored_before_its_batch_when_a_duplicate_enqueue_is_dropped()
    {
        await _store.SaveSession(Session("c"));
        await _store.Enqueue(Message(1), [To("c")]);

        // The second enqueue would have been ignored (the delivery exists); dropping it must not drop the removal too.
        await _store.InOneBatch(s => [s.Enqueue(Message(1), [To("c")]).AsTask(), s.RemoveDelivery("c", 1).AsTask()]);

        var snapshot = await Reopen();
        Assert.Empty(Assert.Single(snapshot.Sessions).Deliveries);
        Assert.Empty(snapshot.Messages);
    }

    [Fact]
    public async Task A_fan_out_wider_than_64_sessions_keeps_the_deliveries_no_removal_undoes()
    {
        var clients = Enumerable.Range(0, 70).Select(i => $"c{i}").ToArray();
        foreach (var c in clients) await _store.SaveSession(Session(c));

        await _store.InOneBatch(s => [s.Enqueue(Message(1), clients.Select(To).ToArray()).AsTask(), .. clients[..64].Select(c => s.RemoveDelivery(c, 1).AsTask())]);

        var snapshot = await Reopen();
        Assert.Equal(clients[64..], snapshot.Sessions.Where(x => x.Deliveries.Count == 1).Select(x => x.Session.ClientId).Order());
        Assert.Single(snapshot.Messages);
    }

    [Fact]
    public async Task Empty_payloads_and_strings_are_stored_as_values_not_null()
    {
        await _store.SaveSession(Session("c"));
        await _store.SaveSubscription("c", new SubscriptionRecord("", QoS.AtLeastOnce, false, false, 0, null));
        await _store.Enqueue(new ApplicationMessage { Id = 1, Topic = "t", Payload = Array.Empty<byte>(), QoS = QoS.AtLeastOnce, PublisherClientId = "" },
            [To("c")]);

        var snapshot = await Reopen();
        Assert.Equal(0, snapshot.Messages[1].Payload.Length);
        Assert.Equal("", snapshot.Messages[1].PublisherClientId);
        Assert.Equal("", Assert.Single(Assert.Single(snapshot.Sessions).Subscriptions).TopicFilter);
    }

    [Fact]
    public async Task Grouped_removals_across_sessions_sharing_bodies_and_between_updates_leave_exactly_the_rest()
    {
        await _store.SaveSession(Session("a"));
        await _store.SaveSession(Session("b"));
        for (var id = 1; id <= 80; id++) await _store.Enqueue(Message(id), [To("a"), To("b")]);

        // a's first 70 go (more than one group), interleaved with updates of b's; b loses every even one, alternating
        // sessions so that the groups break on the session; message 80 is removed and queued again for a.
        await _store.InOneBatch(s =>
        [
            .. Enumerable.Range(1, 70).SelectMany(id => new[]
            {
                s.UpdateDelivery("b", id, (ushort)id, DeliveryState.AwaitingAck).AsTask(),
                s.RemoveDelivery("a", id).AsTask(),
            }),
            .. Enumerable.Range(1, 40).SelectMany(i => new[] { s.RemoveDelivery("b", i * 2).AsTask(), s.RemoveDelivery("a", 71).AsTask() }),
            s.RemoveDelivery("a", 80).AsTask(),
            s.Enqueue(Message(80), [To("a")]).AsTask(),
        ]);

        var snapshot = await Reopen();
        var a = snapshot.Sessions.Single(x => x.Session.ClientId == "a").Deliveries;
        Assert.Equal(Enumerable.Range(72, 9).Select(i => (long)i), a.Select(d => d.MessageId));
        var b = snapshot.Sessions.Single(x => x.Session.ClientId == "b").Deliveries;
        Assert.Equal(Enumerable.Range(0, 40).Select(i => (long)(i * 2 + 1)), b.Select(d => d.MessageId));
        Assert.All(b.Where(d => d.MessageId <= 70), d => Assert.Equal(((ushort)d.MessageId, DeliveryState.AwaitingAck), (d.PacketId, d.State)));
        // Bodies held by either session remain; the even ones up to 70 were released by their last removal.
        Assert.Equal(Enumerable.Range(1, 80).Where(id => id % 2 == 1 || id >= 72).Select(i => (long)i), snapshot.Messages.Keys.Order());
    }

    [Fact]
    public async Task A_batch_that_fails_drops_its_pending_removals_and_the_next_batch_starts_clean()
    {
        await _store.SaveSession(Session("c"));
        for (var id = 1; id <= 3; id++) await _store.Enqueue(Message(id), [To("c")]);

        // Message 9's delivery row would exceed the page limit set here, failing the batch after the removals were held.
        await _store.RunOnWriter(c =>
        {
            using var command = c.CreateCommand();
            command.CommandText = "PRAGMA max_page_count = " + (long)new Microsoft.Data.Sqlite.SqliteCommand("PRAGMA page_count", c).ExecuteScalar()!;
            command.ExecuteNonQuery();
        });
        var failing = _store.InOneBatch(s =>
        [
            s.RemoveDelivery("c", 1).AsTask(),
            s.RemoveDelivery("c", 2).AsTask(),
            s.Enqueue(Message(9, size: 64 * 1024), [To("c")]).AsTask(),
        ]);
        await Assert.ThrowsAsync<StoreUnavailableException>(() => failing);
        await _store.RunOnWriter(c =>
        {
            using var command = c.CreateCommand();
            command.CommandText = "PRAGMA max_page_count = 1073741823";
            command.ExecuteNonQuery();
        });

        await _store.RemoveDelivery("c", 3);
        var snapshot = await Reopen();
        Assert.Equal([1L, 2L], Assert.Single(snapshot.Sessions).Deliveries.Select(d => d.MessageId));
    }
}
