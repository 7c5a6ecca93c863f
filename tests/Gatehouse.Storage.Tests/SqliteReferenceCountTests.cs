using Gatehouse.Protocol;
using Gatehouse.Storage.Embedded;

using static Gatehouse.Storage.Tests.SqliteTestRecords;

namespace Gatehouse.Storage.Tests;

/// <summary>
/// <c>messages.refs</c> under every path that adds or removes deliveries. Format version 2 has no insert trigger: the
/// writer counts what it inserts, so each test reads the counts straight from the file (through the writer, between
/// batches) and finishes with the maintenance check, which compares every count with the deliveries.
/// </summary>
public sealed class SqliteReferenceCountTests : IAsyncLifetime
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
        Assert.Empty(SqliteStoreMaintenance.Check(_directory.Path));
        _directory.Dispose();
    }

    private async Task Sessions(params string[] clientIds)
    {
        foreach (var id in clientIds) await _store.SaveSession(Session(id));
    }

    /// <summary>(message id, refs) of every stored body, read on the writer after everything submitted before.</summary>
    private async Task<List<(long Id, long Refs)>> Refs()
    {
        var refs = new List<(long, long)>();
        await _store.RunOnWriter(c =>
        {
            using var command = c.CreateCommand();
            command.CommandText = "SELECT id, refs FROM messages ORDER BY id";
            using var reader = command.ExecuteReader();
            while (reader.Read()) refs.Add((reader.GetInt64(0), reader.GetInt64(1)));
        });
        return refs;
    }

    [Fact]
    public async Task One_message_for_three_sessions_is_counted_three_times_and_goes_with_the_last_acknowledgement()
    {
        await Sessions("a", "b", "c");
        await _store.Enqueue(Message(1), [To("a"), To("b"), To("c")]);
        Assert.Equal([(1L, 3L)], await Refs());

        await _store.UpdateDelivery("b", 1, 5, DeliveryState.AwaitingAck);
        await _store.RemoveDelivery("b", 1);
        Assert.Equal([(1L, 2L)], await Refs());
        await _store.RemoveDelivery("a", 1);
        Assert.Equal([(1L, 1L)], await Refs());
        await _store.RemoveDelivery("a", 1); // acknowledged twice (a resent PUBACK): changes nothing
        Assert.Equal([(1L, 1L)], await Refs());
        await _store.RemoveDelivery("c", 1);
        Assert.Empty(await Refs());
    }

    [Fact]
    public async Task Only_inserted_deliveries_count_not_sessions_that_are_not_stored_nor_ones_already_queued()
    {
        await Sessions("a", "b");
        await _store.Enqueue(Message(1), [To("a"), To("nobody"), To("b"), To("a")]);
        Assert.Equal([(1L, 2L)], await Refs());

        // Queued again: to a session that holds it (ignored), and to no stored session at all (no body left behind).
        await _store.Enqueue(Message(1), [To("b")]);
        await _store.Enqueue(Message(2), [To("nobody")]);
        await _store.Enqueue(Message(3), []);
        Assert.Equal([(1L, 2L)], await Refs());
    }

    [Fact]
    public async Task A_stored_message_queued_again_for_another_session_gains_a_reference_and_keeps_its_body()
    {
        // A shared-subscription message moved to another member, or a retained message sent on subscribe while it is
        // still queued elsewhere: Enqueue of an id that is already stored.
        await Sessions("a", "b", "c");
        await _store.Enqueue(Message(1, size: 10), [To("a")]);
        await _store.Enqueue(Message(1, size: 99), [To("b"), To("c")]);
        Assert.Equal([(1L, 3L)], await Refs());
        Assert.Equal(10, (await _store.LoadAsync(CancellationToken.None)).Messages[1].Payload.Length);

        await _store.RemoveDelivery("a", 1);
        await _store.RemoveDelivery("b", 1);
        Assert.Equal([(1L, 1L)], await Refs());

        // Its last reference gone, the body goes; queued once more, it is stored anew.
        await _store.RemoveDelivery("c", 1);
        await _store.Enqueue(Message(1, size: 5), [To("a")]);
        Assert.Equal([(1L, 1L)], await Refs());
        Assert.Equal(5, (await _store.LoadAsync(CancellationToken.None)).Messages[1].Payload.Length);
    }

    [Fact]
    public async Task Enqueue_and_removals_in_one_batch_count_only_what_stays()
    {
        await Sessions("a", "b", "c");
        await _store.Enqueue(Message(1), [To("a")]);

        await _store.InOneBatch(s =>
        [
            // Coalesced: a's delivery of 2 is never written; b's and c's are.
            s.Enqueue(Message(2), [To("a"), To("b"), To("c")]).AsTask(),
            s.RemoveDelivery("a", 2).AsTask(),
            // Body 1 exists before the batch: gains b, loses a, and is removed and queued again for a.
            s.Enqueue(Message(1), [To("b")]).AsTask(),
            s.RemoveDelivery("a", 1).AsTask(),
            s.Enqueue(Message(1), [To("a")]).AsTask(),
            // Every delivery of 3 undone: nothing written.
            s.Enqueue(Message(3), [To("a"), To("b")]).AsTask(),
            s.RemoveDelivery("b", 3).AsTask(),
            s.RemoveDelivery("a", 3).AsTask(),
        ]);

        Assert.Equal([(1L, 2L), (2L, 2L)], await Refs());
    }

    [Fact]
    public async Task Deleting_sessions_releases_their_references_whether_alone_or_in_a_batch_with_enqueues()
    {
        await Sessions("a", "b", "c");
        await _store.Enqueue(Message(1), [To("a"), To("b"), To("c")]);
        await _store.Enqueue(Message(2), [To("b")]);

        await _store.DeleteSession("b");
        Assert.Equal([(1L, 2L)], await Refs());

        await _store.InOneBatch(s =>
        [
            s.Enqueue(Message(3), [To("a"), To("c")]).AsTask(),
            s.DeleteSession("a").AsTask(),
            s.SaveSession(Session("a")).AsTask(),
            s.Enqueue(Message(3), [To("a")]).AsTask(),
            s.Enqueue(Message(1), [To("a")]).AsTask(),
        ]);
        Assert.Equal([(1L, 2L), (3L, 2L)], await Refs());

        await _store.DeleteSession("a");
        await _store.DeleteSession("c");
        Assert.Empty(await Refs());
    }

    [Fact]
    public async Task A_failed_batch_changes_no_count()
    {
        await Sessions("a", "b");
        await _store.Enqueue(Message(1), [To("a")]);
        await _store.RunOnWriter(c =>
        {
            using var command = c.CreateCommand();
            command.CommandText = "PRAGMA max_page_count = " + (long)new Microsoft.Data.Sqlite.SqliteCommand("PRAGMA page_count", c).ExecuteScalar()!;
            command.ExecuteNonQuery();
        });

        // Body 1 gains b, then the batch fails on body 9 (beyond the page limit) and rolls back.
        var failing = _store.InOneBatch(s => [s.Enqueue(Message(1), [To("b")]).AsTask(), s.Enqueue(Message(9, size: 64 * 1024), [To("a"), To("b")]).AsTask()]);
        await Assert.ThrowsAsync<StoreUnavailableException>(() => failing);
        await _store.RunOnWriter(c =>
        {
            using var command = c.CreateCommand();
            command.CommandText = "PRAGMA max_page_count = 1073741823";
            command.ExecuteNonQuery();
        });

        Assert.Equal([(1L, 1L)], await Refs());
        await _store.Enqueue(Message(1), [To("b")]);
        Assert.Equal([(1L, 2L)], await Refs());
    }

    /// <summary>
    /// Random sessions, fan-outs (repeated ids, sessions that are not stored), updates, removals and session deletions
    /// in random batches, against <see cref="MemoryBrokerStore"/> (which counts in memory); the maintenance check then
    /// compares every stored count with the deliveries.
    /// </summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Random_workloads_in_random_batches_keep_every_count_equal_to_the_deliveries(int seed)
    {
        var random = new Random(seed);
        var memory = new MemoryBrokerStore();
        var clients = Enumerable.Range(0, 6).Select(i => $"c{i}").ToArray();
        long nextId = 0;
        var nextPacketId = 0;

        for (var round = 0; round < 30; round++)
        {
            var operations = new List<Func<IBrokerStore, ValueTask>>();
            for (var n = random.Next(1, 40); n > 0; n--)
            {
                var client = clients[random.Next(clients.Length)];
                var id = nextId > 0 && random.Next(3) == 0 ? random.NextInt64(1, nextId + 1) : ++nextId;
                switch (random.Next(10))
                {
                    case 0:
                        operations.Add(s => s.SaveSession(Session(client)));
                        break;
                    case 1:
                        operations.Add(s => s.DeleteSession(client));
                        break;
                    case 2 or 3 or 4:
                        var to = Enumerable.Range(0, random.Next(0, 5)).Select(_ => To(clients[random.Next(clients.Length)])).ToArray();
                        operations.Add(s => s.Enqueue(Message(id), to));
                        break;
                    case 5:
                        // Unique packet ids: the check refuses two in-flight deliveries of a session with the same one.
                        var packetId = (ushort)++nextPacketId;
                        operations.Add(s => s.UpdateDelivery(client, id, packetId, DeliveryState.AwaitingAck));
                        break;
                    default:
                        operations.Add(s => s.RemoveDelivery(client, id));
                        break;
                }
            }
            foreach (var op in operations) await op(memory);
            await _store.InOneBatch(s => [.. operations.Select(op => op(s).AsTask())]);

            var expected = await memory.LoadAsync(CancellationToken.None);
            var actual = await _store.LoadAsync(CancellationToken.None);
            Assert.Equal(Deliveries(expected), Deliveries(actual));
            Assert.Equal(expected.Messages.Keys.Order(), actual.Messages.Keys.Order());
            var counts = expected.Sessions.SelectMany(x => x.Deliveries).GroupBy(d => d.MessageId)
                .Select(g => (g.Key, (long)g.Count())).Order().ToList();
            Assert.Equal(counts, await Refs());
        }
    }

    private static List<string> Deliveries(StoreSnapshot snapshot) =>
        [.. snapshot.Sessions.OrderBy(s => s.Session.ClientId, StringComparer.Ordinal)
            .Select(s => s.Session.ClientId + ": " + string.Join(" ", s.Deliveries.Select(d => $"{d.MessageId}/{d.PacketId}/{d.State}")))];
}
