using Gatehouse.Protocol;
using Gatehouse.Storage.Embedded;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Storage.Tests;

/// <summary>
/// Samples/format-v1.db was written by format version 1 and Samples/format-v2.db by version 2, with the same content (two
/// sessions, a will, subscriptions, an in-flight QoS 2 delivery, a shared-subscription delivery, a body referenced by
/// both sessions, incoming QoS 2 ids, a retained message). Samples/format-v3.db is the version 2 sample migrated by
/// version 3, which then saved the connected session's will (armed). Keep them: a later build must still read them
/// (migrating the older ones), or refuse them with a clear message.
/// </summary>
public sealed class FormatSampleTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    private string Database => _directory.Sub("gatehouse.db");

    private SqliteStoreOptions Options => new() { DataDirectory = _directory.Path };

    private void CopySample(int version) =>
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Samples", $"format-v{version}.db"), Database);

    [Fact]
    public async Task Format_version_1_sample_loads_completely()
    {
        CopySample(1);
        await using var store = SqliteBrokerStore.Open(Options);
        AssertSampleContent(await store.LoadAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Format_version_3_sample_loads_completely_with_the_armed_will_and_opens_without_migrating()
    {
        CopySample(3);
        var log = new ListLogger();
        await using (var store = SqliteBrokerStore.Open(Options, log))
        {
            AssertSampleContent(await store.LoadAsync(CancellationToken.None), armedWill: true);
        }
        Assert.DoesNotContain(log.Lines, l => l.Contains("Migrated", StringComparison.Ordinal));
        AssertCurrentVersionWithSampleReferenceCounts();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Opening_an_older_file_migrates_it_to_the_current_version_once_keeping_everything_and_the_reference_counts(int version)
    {
        CopySample(version);
        var log = new ListLogger();
        await using (var store = SqliteBrokerStore.Open(Options, log))
        {
            AssertSampleContent(await store.LoadAsync(CancellationToken.None));
        }
        var migrated = Assert.Single(log.Lines, l => l.Contains("Migrated", StringComparison.Ordinal));
        Assert.Contains($"from format version {version} to 3", migrated, StringComparison.Ordinal);
        Assert.Contains(Database, migrated, StringComparison.Ordinal);
        AssertCurrentVersionWithSampleReferenceCounts();

        // Already migrated: the next start leaves it alone.
        log.Lines.Clear();
        await using var reopened = SqliteBrokerStore.Open(Options, log);
        Assert.DoesNotContain(log.Lines, l => l.Contains("Migrated", StringComparison.Ordinal));
        AssertSampleContent(await reopened.LoadAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_migrated_version_2_file_keeps_a_connected_clients_will()
    {
        CopySample(2);
        await using (var store = SqliteBrokerStore.Open(Options))
        {
            var v311 = Assert.Single((await store.LoadAsync(CancellationToken.None)).Sessions, s => s.Session.ClientId == "sample-v311").Session;
            await store.SaveSession(v311 with { ArmedWill = SampleArmedWill });
        }
        await using var reopened = SqliteBrokerStore.Open(Options);
        AssertSampleContent(await reopened.LoadAsync(CancellationToken.None), armedWill: true);
    }

    [Fact]
    public async Task A_migrated_version_1_file_counts_references_correctly_from_then_on()
    {
        CopySample(1);
        await using var store = SqliteBrokerStore.Open(Options);

        // Body 1 is held by both sessions (refs 2 from version 1's trigger); more deliveries are now counted by the writer.
        await store.SaveSession(new SessionRecord("after", ProtocolVersion.V500, 60, null, null));
        await store.Enqueue(new ApplicationMessage { Id = 1, Topic = "sensors/a/temp", Payload = "21.5"u8.ToArray(), QoS = QoS.ExactlyOnce },
            [new QueuedDeliveryRecord("after", QoS.AtLeastOnce, false, null, null), new QueuedDeliveryRecord("sample-v5", QoS.AtLeastOnce, false, null, null)]);
        await store.Enqueue(new ApplicationMessage { Id = 4, Topic = "new", Payload = "n"u8.ToArray(), QoS = QoS.AtLeastOnce },
            [new QueuedDeliveryRecord("after", QoS.AtLeastOnce, false, null, null), new QueuedDeliveryRecord("sample-v311", QoS.AtLeastOnce, false, null, null)]);
        Assert.Equal([(1L, 3L), (2L, 1L), (4L, 2L)], await Refs(store));

        await store.RemoveDelivery("sample-v5", 1);
        await store.RemoveDelivery("sample-v311", 2);
        await store.DeleteSession("after");
        Assert.Equal([(1L, 1L), (4L, 1L)], await Refs(store));
        await store.RemoveDelivery("sample-v311", 1);
        Assert.Equal([(4L, 1L)], await Refs(store));

        await store.DisposeAsync();
        Assert.Empty(SqliteStoreMaintenance.Check(_directory.Path));
    }

    [Fact]
    public void The_maintenance_commands_read_a_version_1_file_as_it_is()
    {
        CopySample(1);
        Assert.Empty(SqliteStoreMaintenance.Check(_directory.Path));
        Assert.Equal(1, SqliteStoreMaintenance.Statistics(_directory.Path).FormatVersion);
        Assert.Equal(1L, Scalar("SELECT value FROM meta WHERE key = 'format_version'"));
    }

    [Fact]
    public async Task A_migration_that_fails_leaves_the_file_at_version_1_and_the_next_start_migrates_it()
    {
        CopySample(1);
        // Fails the migration's last statement, after the trigger was dropped in the same transaction.
        Execute("CREATE TRIGGER refuse_update BEFORE UPDATE ON meta BEGIN SELECT RAISE(ABORT, 'injected failure'); END");

        var e = Assert.Throws<StoreUnavailableException>(() => SqliteBrokerStore.Open(Options));
        Assert.Contains("migrating format version 1 to 3 failed", e.Message, StringComparison.Ordinal);
        Assert.Contains("injected failure", e.Message, StringComparison.Ordinal);
        Assert.Equal(1L, Scalar("SELECT value FROM meta WHERE key = 'format_version'"));
        Assert.Equal(1L, Scalar("SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' AND name = 'deliveries_added'"));

        Execute("DROP TRIGGER refuse_update");
        await using (var store = SqliteBrokerStore.Open(Options))
        {
            AssertSampleContent(await store.LoadAsync(CancellationToken.None));
        }
        AssertCurrentVersionWithSampleReferenceCounts();
    }

    /// <summary>The will format version 3 saved for the connected 3.1.1 session of its sample.</summary>
    private static readonly ArmedWillRecord SampleArmedWill = new(new ApplicationMessage
    {
        Id = 101, Topic = "will/v311", Payload = "offline"u8.ToArray(), QoS = QoS.AtLeastOnce, Retain = true, PublisherClientId = "sample-v311",
    }, DelaySeconds: 0, MessageExpirySeconds: null);

    /// <summary>What the samples hold, as a restarted broker sees it; the version 3 sample also the armed will.</summary>
    private static void AssertSampleContent(StoreSnapshot snapshot, bool armedWill = false)
    {
        var t0 = DateTimeOffset.FromUnixTimeMilliseconds(1_750_000_000_000);

        Assert.Equal(2, snapshot.Sessions.Count);
        var v5 = Assert.Single(snapshot.Sessions, s => s.Session.ClientId == "sample-v5");
        Assert.Equal(ProtocolVersion.V500, v5.Session.ProtocolVersion);
        Assert.Equal(86400u, v5.Session.ExpiryIntervalSeconds);
        Assert.Equal(t0, v5.Session.DisconnectedAt);
        var will = v5.Session.PendingWill!;
        Assert.Equal(t0.AddSeconds(30), will.PublishAt);
        Assert.Equal(100, will.Message.Id);
        Assert.Equal("will/v5", will.Message.Topic);
        Assert.Equal("bye"u8.ToArray(), will.Message.Payload.ToArray());
        Assert.True(will.Message.Retain);
        Assert.Equal(t0.AddSeconds(120), will.Message.ExpiresAt);
        Assert.Equal("reply/1", will.Message.Properties!.ResponseTopic);
        Assert.Equal([new UserProperty("k", "v"), new UserProperty("k", "v2")], will.Message.Properties.UserProperties!);
        Assert.Equal(new SubscriptionRecord("sensors/+/temp", QoS.ExactlyOnce, true, true, 1, 42), Assert.Single(v5.Subscriptions));
        var inflight = Assert.Single(v5.Deliveries);
        Assert.Equal((1L, (ushort)513, DeliveryState.AwaitingComp), (inflight.MessageId, inflight.PacketId, inflight.State));
        Assert.Equal((QoS.ExactlyOnce, true), (inflight.Delivery.QoS, inflight.Delivery.Retain));
        Assert.Equal([42u], inflight.Delivery.SubscriptionIdentifiers!);
        Assert.Equal(new ushort[] { 7, 65535 }, v5.IncomingQoS2.Order());

        var v311 = Assert.Single(snapshot.Sessions, s => s.Session.ClientId == "sample-v311");
        Assert.Equal(ProtocolVersion.V311, v311.Session.ProtocolVersion);
        Assert.Equal(uint.MaxValue, v311.Session.ExpiryIntervalSeconds);
        Assert.Null(v311.Session.DisconnectedAt);
        Assert.Null(v311.Session.PendingWill);
        Assert.Null(v5.Session.ArmedWill);
        if (armedWill) StoreAssert.Session(v311.Session with { ArmedWill = SampleArmedWill }, v311.Session);
        else Assert.Null(v311.Session.ArmedWill);
        Assert.Equal(new SubscriptionRecord("$share/g/jobs/#", QoS.AtLeastOnce, false, false, 0, null), Assert.Single(v311.Subscriptions));
        Assert.Equal(new long[] { 1, 2 }, v311.Deliveries.Select(d => d.MessageId));
        Assert.All(v311.Deliveries, d => Assert.Equal((QoS.AtLeastOnce, (ushort)0, DeliveryState.Queued), (d.Delivery.QoS, d.PacketId, d.State)));
        Assert.Null(v311.Deliveries[0].Delivery.ShareGroup);
        Assert.Equal("g/jobs/#", v311.Deliveries[1].Delivery.ShareGroup);
        Assert.Empty(v311.IncomingQoS2);

        Assert.Equal([1L, 2L], snapshot.Messages.Keys.Order());
        var m1 = snapshot.Messages[1];
        Assert.Equal(("sensors/a/temp", QoS.ExactlyOnce, false, "pub"), (m1.Topic, m1.QoS, m1.Retain, m1.PublisherClientId));
        Assert.Equal("21.5"u8.ToArray(), m1.Payload.ToArray());
        Assert.Equal(t0.AddSeconds(3600), m1.ExpiresAt);
        Assert.Equal(new byte[] { 9, 8, 7 }, m1.Properties!.CorrelationData!.Value.ToArray());
        Assert.Equal(("jobs/7", QoS.AtLeastOnce, 0), (snapshot.Messages[2].Topic, snapshot.Messages[2].QoS, snapshot.Messages[2].Payload.Length));
        var retained = Assert.Single(snapshot.Retained);
        Assert.Equal(("status/broker", 3L, "text/plain"), (retained.Topic, retained.Id, retained.Properties!.ContentType));
        Assert.Equal("up"u8.ToArray(), retained.Payload.ToArray());
    }

    /// <summary>
    /// The closed file is version 3 (no insert trigger, the armed will's columns) and body 1 counts both sessions'
    /// deliveries, body 2 one.
    /// </summary>
    private void AssertCurrentVersionWithSampleReferenceCounts()
    {
        Assert.Equal(3L, Scalar("SELECT value FROM meta WHERE key = 'format_version'"));
        Assert.Equal(2L, Scalar("SELECT count(*) FROM pragma_table_info('sessions') WHERE name IN ('will_delay', 'will_expiry')"));
        Assert.Equal(["deliveries_removed"], Strings("SELECT name FROM sqlite_schema WHERE type = 'trigger'"));
        Assert.Equal(["1:2", "2:1"], Strings("SELECT id || ':' || refs FROM messages ORDER BY id"));
        Assert.Empty(SqliteStoreMaintenance.Check(_directory.Path));
    }

    private static async Task<List<(long Id, long Refs)>> Refs(SqliteBrokerStore store)
    {
        var refs = new List<(long, long)>();
        await store.RunOnWriter(c =>
        {
            using var command = c.CreateCommand();
            command.CommandText = "SELECT id, refs FROM messages ORDER BY id";
            using var reader = command.ExecuteReader();
            while (reader.Read()) refs.Add((reader.GetInt64(0), reader.GetInt64(1)));
        });
        return refs;
    }

    private SqliteConnection Connect()
    {
        var connection = new SqliteConnection($"Data Source={Database};Pooling=False");
        connection.Open();
        return connection;
    }

    private void Execute(string sql)
    {
        using var connection = Connect();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private long Scalar(string sql)
    {
        using var connection = Connect();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }

    private List<string> Strings(string sql)
    {
        using var connection = Connect();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var values = new List<string>();
        while (reader.Read()) values.Add(reader.GetString(0));
        return values;
    }
}

/// <summary>Keeps every formatted log line (thread-safe: the store logs from the opening thread and its writer).</summary>
internal sealed class ListLogger : ILogger
{
    public List<string> Lines { get; } = [];

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Lines) Lines.Add(formatter(state, exception));
    }
}
