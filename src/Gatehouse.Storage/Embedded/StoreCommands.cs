using Gatehouse.Protocol;
using Microsoft.Data.Sqlite;

namespace Gatehouse.Storage.Embedded;

/// <summary>
/// The prepared statements of the writer, compiled once and reused for every batch. Used only by the writer thread.
/// Semantics match <see cref="MemoryBrokerStore"/>: changes for sessions that are not stored are ignored.
/// </summary>
internal sealed class StoreCommands : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly string _path;
    private readonly SqliteCommand _begin, _commit, _rollback;
    private readonly SqliteCommand _saveSession, _deleteSession;
    private readonly SqliteCommand _saveSubscription, _deleteSubscription;
    private readonly SqliteCommand _insertMessage, _insertDelivery, _dropUnreferenced;
    private readonly SqliteCommand _updateDelivery, _removeDelivery;
    private readonly SqliteCommand _saveRetained, _deleteRetained;
    private readonly SqliteCommand _addIncoming, _removeIncoming;
    private readonly List<SqliteCommand> _all = [];
    private long _nextSeq;

    public StoreCommands(SqliteConnection connection, string path)
    {
        _connection = connection;
        _path = path;
        _begin = Prepare("BEGIN IMMEDIATE");
        _commit = Prepare("COMMIT");
        _rollback = Prepare("ROLLBACK");
        _saveSession = Prepare("""
            INSERT INTO sessions (client_id, protocol_version, expiry_interval, disconnected_at, will_publish_at, will_message_id,
                will_topic, will_payload, will_qos, will_retain, will_properties, will_expires_at, will_publisher)
            VALUES ($client, $version, $expiry, $disconnected, $willAt, $willId, $willTopic, $willPayload, $willQos, $willRetain,
                $willProperties, $willExpires, $willPublisher)
            ON CONFLICT (client_id) DO UPDATE SET protocol_version = excluded.protocol_version,
                expiry_interval = excluded.expiry_interval, disconnected_at = excluded.disconnected_at,
                will_publish_at = excluded.will_publish_at, will_message_id = excluded.will_message_id,
                will_topic = excluded.will_topic, will_payload = excluded.will_payload, will_qos = excluded.will_qos,
                will_retain = excluded.will_retain, will_properties = excluded.will_properties,
                will_expires_at = excluded.will_expires_at, will_publisher = excluded.will_publisher
            """, "$client", "$version", "$expiry", "$disconnected", "$willAt", "$willId", "$willTopic", "$willPayload", "$willQos",
            "$willRetain", "$willProperties", "$willExpires", "$willPublisher");
        // The delivery delete fires the trigger that releases the message bodies.
        _deleteSession = Prepare("""
            DELETE FROM subscriptions WHERE client_id = $client;
            DELETE FROM deliveries WHERE client_id = $client;
            DELETE FROM incoming_qos2 WHERE client_id = $client;
            DELETE FROM sessions WHERE client_id = $client;
            """, "$client");
        _saveSubscription = Prepare("""
            INSERT OR REPLACE INTO subscriptions (client_id, filter, max_qos, no_local, retain_as_published, retain_handling, subscription_id)
            SELECT $client, $filter, $qos, $noLocal, $rap, $rh, $id WHERE EXISTS (SELECT 1 FROM sessions WHERE client_id = $client)
            """, "$client", "$filter", "$qos", "$noLocal", "$rap", "$rh", "$id");
        _deleteSubscription = Prepare("DELETE FROM subscriptions WHERE client_id = $client AND filter = $filter", "$client", "$filter");
        _insertMessage = Prepare("""
            INSERT OR IGNORE INTO messages (id, topic, payload, qos, retain, properties, expires_at, publisher)
            VALUES ($id, $topic, $payload, $qos, $retain, $properties, $expires, $publisher)
            """, "$id", "$topic", "$payload", "$qos", "$retain", "$properties", "$expires", "$publisher");
        _insertDelivery = Prepare("""
            INSERT OR IGNORE INTO deliveries (client_id, message_id, seq, qos, retain, subscription_ids, share_group)
            SELECT $client, $message, $seq, $qos, $retain, $ids, $group WHERE EXISTS (SELECT 1 FROM sessions WHERE client_id = $client)
            """, "$client", "$message", "$seq", "$qos", "$retain", "$ids", "$group");
        _dropUnreferenced = Prepare("DELETE FROM messages WHERE id = $id AND refs = 0", "$id");
        _updateDelivery = Prepare("UPDATE deliveries SET packet_id = $packet, state = $state WHERE client_id = $client AND message_id = $message",
            "$packet", "$state", "$client", "$message");
        _removeDelivery = Prepare("DELETE FROM deliveries WHERE client_id = $client AND message_id = $message", "$client", "$message");
        _saveRetained = Prepare("""
            INSERT OR REPLACE INTO retained (topic, message_id, payload, qos, retain, properties, expires_at, publisher)
            VALUES ($topic, $id, $payload, $qos, $retain, $properties, $expires, $publisher)
            """, "$id", "$topic", "$payload", "$qos", "$retain", "$properties", "$expires", "$publisher"); // BindMessage's order
        _deleteRetained = Prepare("DELETE FROM retained WHERE topic = $topic", "$topic");
        _addIncoming = Prepare("""
            INSERT OR IGNORE INTO incoming_qos2 (client_id, packet_id)
            SELECT $client, $packet WHERE EXISTS (SELECT 1 FROM sessions WHERE client_id = $client)
            """, "$client", "$packet");
        _removeIncoming = Prepare("DELETE FROM incoming_qos2 WHERE client_id = $client AND packet_id = $packet", "$client", "$packet");

        using var maxSeq = connection.CreateCommand();
        maxSeq.CommandText = "SELECT coalesce(max(seq), 0) FROM deliveries";
        _nextSeq = (long)maxSeq.ExecuteScalar()! + 1;
    }

    public SqliteConnection Connection => _connection;

    public void Begin() => _begin.ExecuteNonQuery();

    public void Commit() => _commit.ExecuteNonQuery();

    /// <summary>Rolls back the open transaction, if SQLite has not already done so after the error.</summary>
    public void TryRollback()
    {
        try
        {
            _rollback.ExecuteNonQuery();
        }
        catch (SqliteException)
        {
            // "cannot rollback - no transaction is active": SQLite rolled back by itself (SQLITE_FULL, SQLITE_IOERR).
        }
    }

    public void SaveSession(SessionRecord s)
    {
        var p = _saveSession.Parameters;
        p[0].Value = s.ClientId;
        p[1].Value = (byte)s.ProtocolVersion;
        p[2].Value = (long)s.ExpiryIntervalSeconds;
        p[3].Value = StoredValues.Time(s.DisconnectedAt);
        var will = s.PendingWill;
        var message = will?.Message;
        p[4].Value = StoredValues.Time(will?.PublishAt);
        p[5].Value = message is null ? DBNull.Value : message.Id;
        p[6].Value = (object?)message?.Topic ?? DBNull.Value;
        p[7].Value = message is null ? DBNull.Value : StoredValues.Payload(message.Payload);
        p[8].Value = message is null ? DBNull.Value : (byte)message.QoS;
        p[9].Value = message is null ? DBNull.Value : message.Retain;
        p[10].Value = (object?)StoredValues.EncodeProperties(message?.Properties) ?? DBNull.Value;
        p[11].Value = StoredValues.Time(message?.ExpiresAt);
        p[12].Value = (object?)message?.PublisherClientId ?? DBNull.Value;
        _saveSession.ExecuteNonQuery();
    }

    public void DeleteSession(string clientId)
    {
        _deleteSession.Parameters[0].Value = clientId;
        _deleteSession.ExecuteNonQuery();
    }

    public void SaveSubscription(string clientId, SubscriptionRecord s)
    {
        var p = _saveSubscription.Parameters;
        p[0].Value = clientId;
        p[1].Value = s.TopicFilter;
        p[2].Value = (byte)s.MaximumQoS;
        p[3].Value = s.NoLocal;
        p[4].Value = s.RetainAsPublished;
        p[5].Value = s.RetainHandling;
        p[6].Value = s.SubscriptionIdentifier is { } id ? (long)id : DBNull.Value;
        _saveSubscription.ExecuteNonQuery();
    }

    public void DeleteSubscription(string clientId, string topicFilter)
    {
        _deleteSubscription.Parameters[0].Value = clientId;
        _deleteSubscription.Parameters[1].Value = topicFilter;
        _deleteSubscription.ExecuteNonQuery();
    }

    public void Enqueue(ApplicationMessage message, IReadOnlyList<QueuedDeliveryRecord> deliveries)
    {
        if (deliveries.Count == 0) return;
        BindMessage(_insertMessage.Parameters, message);
        _insertMessage.ExecuteNonQuery();
        var p = _insertDelivery.Parameters;
        var added = 0;
        foreach (var d in deliveries)
        {
            p[0].Value = d.ClientId;
            p[1].Value = message.Id;
            p[2].Value = _nextSeq++;
            p[3].Value = (byte)d.QoS;
            p[4].Value = d.Retain;
            p[5].Value = (object?)StoredValues.EncodeSubscriptionIds(d.SubscriptionIdentifiers) ?? DBNull.Value;
            p[6].Value = (object?)d.ShareGroup ?? DBNull.Value;
            added += _insertDelivery.ExecuteNonQuery();
        }
        if (added == 0)
        {
            // No listed session is stored (or all already held it): do not leave an unreferenced body behind.
            _dropUnreferenced.Parameters[0].Value = message.Id;
            _dropUnreferenced.ExecuteNonQuery();
        }
    }

    public void UpdateDelivery(string clientId, long messageId, ushort packetId, DeliveryState state)
    {
        var p = _updateDelivery.Parameters;
        p[0].Value = (long)packetId;
        p[1].Value = (byte)state;
        p[2].Value = clientId;
        p[3].Value = messageId;
        _updateDelivery.ExecuteNonQuery();
    }

    public void RemoveDelivery(string clientId, long messageId)
    {
        _removeDelivery.Parameters[0].Value = clientId;
        _removeDelivery.Parameters[1].Value = messageId;
        _removeDelivery.ExecuteNonQuery();
    }

    public void SaveRetained(ApplicationMessage message)
    {
        BindMessage(_saveRetained.Parameters, message);
        _saveRetained.ExecuteNonQuery();
    }

    public void DeleteRetained(string topic)
    {
        _deleteRetained.Parameters[0].Value = topic;
        _deleteRetained.ExecuteNonQuery();
    }

    public void AddIncomingQoS2(string clientId, ushort packetId)
    {
        _addIncoming.Parameters[0].Value = clientId;
        _addIncoming.Parameters[1].Value = (long)packetId;
        _addIncoming.ExecuteNonQuery();
    }

    public void RemoveIncomingQoS2(string clientId, ushort packetId)
    {
        _removeIncoming.Parameters[0].Value = clientId;
        _removeIncoming.Parameters[1].Value = (long)packetId;
        _removeIncoming.ExecuteNonQuery();
    }

    /// <summary>Reads everything, outside any write transaction.</summary>
    public StoreSnapshot Load(CancellationToken cancellationToken) =>
        SnapshotReader.Read(_connection, _path, cancellationToken);

    public void Dispose()
    {
        foreach (var command in _all) command.Dispose();
    }

    private static void BindMessage(SqliteParameterCollection p, ApplicationMessage message)
    {
        p[0].Value = message.Id;
        p[1].Value = message.Topic;
        p[2].Value = StoredValues.Payload(message.Payload);
        p[3].Value = (byte)message.QoS;
        p[4].Value = message.Retain;
        p[5].Value = (object?)StoredValues.EncodeProperties(message.Properties) ?? DBNull.Value;
        p[6].Value = StoredValues.Time(message.ExpiresAt);
        p[7].Value = (object?)message.PublisherClientId ?? DBNull.Value;
    }

    private SqliteCommand Prepare(string sql, params string[] parameters)
    {
        var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in parameters) command.Parameters.Add(new SqliteParameter(name, DBNull.Value));
        command.Prepare();
        _all.Add(command);
        return command;
    }
}
