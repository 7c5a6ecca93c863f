using Gatehouse.Protocol;
using Microsoft.Data.Sqlite;

namespace Gatehouse.Storage.Embedded;

/// <summary>Reads the whole store into a <see cref="StoreSnapshot"/> for recovery at start-up.</summary>
internal static class SnapshotReader
{
    public static StoreSnapshot Read(SqliteConnection connection, string path, CancellationToken cancellationToken)
    {
        // One read transaction: a consistent view even if something else wrote (nothing should).
        using var transaction = connection.BeginTransaction(deferred: true);
        try
        {
            var sessions = new Dictionary<string, SessionBuilder>(StringComparer.Ordinal);
            Query(connection, transaction, """
                SELECT client_id, protocol_version, expiry_interval, disconnected_at, will_publish_at, will_message_id, will_topic,
                    will_payload, will_qos, will_retain, will_properties, will_expires_at, will_publisher, will_delay, will_expiry
                FROM sessions
                """, r =>
            {
                WillRecord? will = null;
                ArmedWillRecord? armed = null;
                if (!r.IsDBNull(6))
                {
                    var message = new ApplicationMessage
                    {
                        Id = r.GetInt64(5),
                        Topic = r.GetString(6),
                        Payload = Blob(r, 7) ?? [],
                        QoS = QoSOf(r.GetInt64(8)),
                        Retain = r.GetInt64(9) != 0,
                        Properties = StoredValues.DecodeProperties(Blob(r, 10)),
                        ExpiresAt = StoredValues.Time(NullableInt64(r, 11)),
                        PublisherClientId = r.IsDBNull(12) ? null : r.GetString(12),
                    };
                    if (r.IsDBNull(13)) will = new WillRecord(message, StoredValues.Time(r.GetInt64(4))!.Value);
                    else armed = new ArmedWillRecord(message, checked((uint)r.GetInt64(13)), r.IsDBNull(14) ? null : checked((uint)r.GetInt64(14)));
                }
                var version = (ProtocolVersion)r.GetInt64(1);
                if (!Enum.IsDefined(version)) throw new InvalidDataException($"Unknown protocol version {(long)version}.");
                var record = new SessionRecord(r.GetString(0), version, checked((uint)r.GetInt64(2)),
                    StoredValues.Time(NullableInt64(r, 3)), will, armed);
                sessions[record.ClientId] = new SessionBuilder(record);
            }, cancellationToken);

            Query(connection, transaction,
                "SELECT client_id, filter, max_qos, no_local, retain_as_published, retain_handling, subscription_id FROM subscriptions", r =>
            {
                if (!sessions.TryGetValue(r.GetString(0), out var session)) return;
                session.Subscriptions.Add(new SubscriptionRecord(r.GetString(1), QoSOf(r.GetInt64(2)), r.GetInt64(3) != 0,
                    r.GetInt64(4) != 0, checked((byte)r.GetInt64(5)), r.IsDBNull(6) ? null : checked((uint)r.GetInt64(6))));
            }, cancellationToken);

            Query(connection, transaction,
                "SELECT client_id, message_id, seq, qos, retain, subscription_ids, share_group, packet_id, state FROM deliveries", r =>
            {
                if (!sessions.TryGetValue(r.GetString(0), out var session)) return;
                var state = (DeliveryState)r.GetInt64(8);
                if (!Enum.IsDefined(state)) throw new InvalidDataException($"Unknown delivery state {(long)state}.");
                var delivery = new QueuedDeliveryRecord(session.Record.ClientId, QoSOf(r.GetInt64(3)), r.GetInt64(4) != 0,
                    StoredValues.DecodeSubscriptionIds(Blob(r, 5)), r.IsDBNull(6) ? null : r.GetString(6));
                session.Deliveries.Add((r.GetInt64(2), new StoredDelivery(delivery, r.GetInt64(1), checked((ushort)r.GetInt64(7)), state)));
            }, cancellationToken);

            Query(connection, transaction, "SELECT client_id, packet_id FROM incoming_qos2", r =>
            {
                if (sessions.TryGetValue(r.GetString(0), out var session)) session.IncomingQoS2.Add(checked((ushort)r.GetInt64(1)));
            }, cancellationToken);

            var messages = new Dictionary<long, ApplicationMessage>();
            Query(connection, transaction,
                "SELECT id, topic, payload, qos, retain, properties, expires_at, publisher FROM messages", r =>
            {
                var message = ReadMessage(r, idColumn: 0, firstColumn: 1);
                messages[message.Id] = message;
            }, cancellationToken);

            var retained = new List<ApplicationMessage>();
            Query(connection, transaction,
                "SELECT message_id, topic, payload, qos, retain, properties, expires_at, publisher FROM retained", r =>
                retained.Add(ReadMessage(r, idColumn: 0, firstColumn: 1)), cancellationToken);

            var stored = new List<StoredSession>(sessions.Count);
            foreach (var session in sessions.Values)
            {
                session.Deliveries.Sort(static (a, b) => a.Seq.CompareTo(b.Seq));
                stored.Add(new StoredSession(session.Record, session.Subscriptions,
                    session.Deliveries.ConvertAll(static d => d.Delivery), session.IncomingQoS2));
            }
            return new StoreSnapshot(stored, messages, retained);
        }
        catch (Exception e) when (e is InvalidDataException or InvalidCastException or OverflowException or FormatException)
        {
            throw new StoreFormatException(path, $"unreadable content ({e.Message})", e);
        }
        catch (SqliteException e) when (e.SqliteErrorCode is 11 or 26)
        {
            throw new StoreFormatException(path, $"the file is corrupt ({e.Message.ReplaceLineEndings(" ")})", e);
        }
    }

    private static ApplicationMessage ReadMessage(SqliteDataReader r, int idColumn, int firstColumn) => new()
    {
        Id = r.GetInt64(idColumn),
        Topic = r.GetString(firstColumn),
        Payload = Blob(r, firstColumn + 1) ?? [],
        QoS = QoSOf(r.GetInt64(firstColumn + 2)),
        Retain = r.GetInt64(firstColumn + 3) != 0,
        Properties = StoredValues.DecodeProperties(Blob(r, firstColumn + 4)),
        ExpiresAt = StoredValues.Time(NullableInt64(r, firstColumn + 5)),
        PublisherClientId = r.IsDBNull(firstColumn + 6) ? null : r.GetString(firstColumn + 6),
    };

    private static QoS QoSOf(long value) =>
        value is >= 0 and <= 2 ? (QoS)value : throw new InvalidDataException($"Invalid QoS {value}.");

    private static byte[]? Blob(SqliteDataReader r, int column) => r.IsDBNull(column) ? null : r.GetFieldValue<byte[]>(column);

    private static long? NullableInt64(SqliteDataReader r, int column) => r.IsDBNull(column) ? null : r.GetInt64(column);

    private static void Query(SqliteConnection connection, SqliteTransaction transaction, string sql, Action<SqliteDataReader> row,
        CancellationToken cancellationToken)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var n = 0;
        while (reader.Read())
        {
            if ((++n & 0xFFF) == 0) cancellationToken.ThrowIfCancellationRequested();
            row(reader);
        }
    }

    private sealed class SessionBuilder(SessionRecord record)
    {
        public SessionRecord Record { get; } = record;
        public List<SubscriptionRecord> Subscriptions { get; } = [];
        public List<(long Seq, StoredDelivery Delivery)> Deliveries { get; } = [];
        public List<ushort> IncomingQoS2 { get; } = [];
    }
}
