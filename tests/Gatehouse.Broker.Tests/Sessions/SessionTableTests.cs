using Gatehouse.Broker.Sessions;
using Gatehouse.Protocol;
using Gatehouse.Storage;
using Gatehouse.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gatehouse.Broker.Tests.Sessions;

/// <summary>
/// The session registry's table: found by client id, replaced, removed only as the session it holds, and read without a
/// lock while one writer adds and removes (the session manager's lock serialises writes).
/// </summary>
public sealed class SessionTableTests
{
    private readonly BrokerContext _context = new(new BrokerOptions(), new MemoryBrokerStore(), TimeProvider.System, NullLoggerFactory.Instance);

    private Session NewSession(string clientId) => new(_context, clientId, ProtocolVersion.V500, 0);

    [Fact]
    public void Sessions_are_found_by_client_id_and_replaced_by_a_newer_session_of_the_same_id()
    {
        var table = new SessionTable();
        var first = NewSession("device-1");
        table.Set(first);
        table.Set(NewSession("device-2"));
        Assert.Same(first, table.Find("device-1"));
        Assert.Null(table.Find("device-3"));
        // Ordinal: client ids differing only in case are different clients.
        Assert.Null(table.Find("DEVICE-1"));

        var second = NewSession("device-1");
        table.Set(second);
        Assert.Same(second, table.Find("device-1"));
        Assert.Equal(2, table.Count);
    }

    [Fact]
    public void Only_the_session_held_is_removed_and_a_removed_slot_is_used_again()
    {
        var table = new SessionTable();
        var old = NewSession("sensor");
        var current = NewSession("sensor");
        table.Set(old);
        table.Set(current);
        Assert.False(table.Remove(old));
        Assert.Same(current, table.Find("sensor"));
        Assert.True(table.Remove(current));
        Assert.Null(table.Find("sensor"));
        Assert.False(table.Remove(current));
        Assert.Equal(0, table.Count);

        // Adding and removing forever (clients connecting and leaving) neither loses entries nor fills the table.
        var resident = NewSession("resident");
        table.Set(resident);
        for (var i = 0; i < 100_000; i++)
        {
            var passing = NewSession($"passing-{i}");
            table.Set(passing);
            Assert.Same(passing, table.Find(passing.ClientId));
            Assert.True(table.Remove(passing));
        }
        Assert.Same(resident, table.Find("resident"));
        Assert.Equal(1, table.Count);
        Assert.Equal([resident], table.All);
    }

    [Fact]
    public void Growing_to_many_sessions_and_shrinking_again_keeps_every_entry()
    {
        var table = new SessionTable();
        var sessions = Enumerable.Range(0, 50_000).Select(i => NewSession($"fleet/{i}")).ToArray();
        foreach (var session in sessions) table.Set(session);
        Assert.Equal(sessions.Length, table.Count);
        Assert.All(sessions, session => Assert.Same(session, table.Find(session.ClientId)));
        Assert.Equal(sessions.Length, table.All.Count());

        foreach (var session in sessions.Where((_, i) => i % 10 != 0)) Assert.True(table.Remove(session));
        var kept = sessions.Where((_, i) => i % 10 == 0).ToArray();
        Assert.Equal(kept.Length, table.Count);
        Assert.All(kept, session => Assert.Same(session, table.Find(session.ClientId)));
        Assert.Equal(kept.OrderBy(s => s.ClientId, StringComparer.Ordinal), table.All.OrderBy(s => s.ClientId, StringComparer.Ordinal));
        Assert.Null(table.Find("fleet/1"));
    }

    [Fact]
    public async Task Readers_without_a_lock_always_find_the_sessions_that_stay_while_a_writer_churns_and_resizes()
    {
        var table = new SessionTable();
        var stable = Enumerable.Range(0, 1_000).Select(i => NewSession($"stable-{i}")).ToArray();
        foreach (var session in stable) table.Set(session);
        using var stop = new CancellationTokenSource();
        var misses = 0;
        var wrong = 0;
        var reads = 0L;

        // Threads of their own: thread-pool tasks may not start before the writer is done.
        var readers = Enumerable.Range(0, 2).Select(_ => new Thread(() =>
        {
            var random = new Random();
            while (!stop.IsCancellationRequested)
            {
                var expected = stable[random.Next(stable.Length)];
                var found = table.Find(expected.ClientId);
                if (found is null) Interlocked.Increment(ref misses);
                else if (!ReferenceEquals(found, expected)) Interlocked.Increment(ref wrong);
                if (table.Find($"churn-{random.Next(100_000)}") is { } other && !other.ClientId.StartsWith("churn-", StringComparison.Ordinal))
                    Interlocked.Increment(ref wrong);
                Interlocked.Increment(ref reads);
            }
        }) { IsBackground = true }).ToList();
        readers.ForEach(reader => reader.Start());
        await Eventually.Assert(() => Interlocked.Read(ref reads) > 0, "the readers run");

        // One writer, as under the session manager's lock: waves of clients come and go, growing and shrinking the table,
        // until the readers have had many reads against it (bounded in time).
        var started = Environment.TickCount64;
        for (var wave = 0; wave < 20 || Interlocked.Read(ref reads) < 200_000 && Environment.TickCount64 - started < 10_000; wave++)
        {
            var churn = Enumerable.Range(wave % 20 * 5_000, 5_000).Select(i => NewSession($"churn-{i}")).ToArray();
            foreach (var session in churn) table.Set(session);
            foreach (var session in churn) table.Remove(session);
        }
        stop.Cancel();
        readers.ForEach(reader => reader.Join());

        Assert.True(reads > 1_000, $"only {reads} reads ran beside the writer");
        Assert.Equal(0, misses);
        Assert.Equal(0, wrong);
        Assert.Equal(stable.Length, table.Count);
    }
}
