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
    private readonly NativeStatement _begin, _commit, _rollback;
    private readonly NativeStatement _saveSession;
    private readonly NativeStatement[] _deleteSession;
    private readonly NativeStatement _saveSubscription, _deleteSubscription;
    private readonly NativeStatement _insertDelivery, _storeMessage;
    private readonly NativeStatement _updateDelivery;
    private readonly PendingRemovals _removals;
    private readonly NativeStatement _saveRetained, _deleteRetained;
    private readonly NativeStatement _addIncoming, _removeIncoming;
    private readonly List<NativeStatement> _all = [];
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
                will_topic, will_payload, will_qos, will_retain, will_properties, will_expires_at, will_publisher, will_delay, will_expiry)
            VALUES ($client, $version, $expiry, $disconnected, $willAt, $willId, $willTopic, $willPayload, $willQos, $willRetain,
                $willProperties, $willExpires, $willPublisher, $willDelay, $willExpiry)
            ON CONFLICT (client_id) DO UPDATE SET protocol_version = excluded.protocol_version,
                expiry_interval = excluded.expiry_interval, disconnected_at = excluded.disconnected_at,
                will_publish_at = excluded.will_publish_at, will_message_id = excluded.will_message_id,
                will_topic = excluded.will_topic, will_payload = excluded.will_payload, will_qos = excluded.will_qos,
                will_retain = excluded.will_retain, will_properties = excluded.will_properties,
                will_expires_at = excluded.will_expires_at, will_publisher = excluded.will_publisher,
                will_delay = excluded.will_delay, will_expiry = excluded.will_expiry
            """, "$client", "$version", "$expiry", "$disconnected", "$willAt", "$willId", "$willTopic", "$willPayload", "$willQos",
            "$willRetain", "$willProperties", "$willExpires", "$willPublisher", "$willDelay", "$willExpiry");
        // The delivery delete fires the trigger that releases the message bodies.
        _deleteSession =
        [
            Prepare("DELETE FROM subscriptions WHERE client_id = $client", "$client"),
            Prepare("DELETE FROM deliveries WHERE client_id = $client", "$client"),
            Prepare("DELETE FROM incoming_qos2 WHERE client_id = $client", "$client"),
            Prepare("DELETE FROM sessions WHERE client_id = $client", "$client"),
        ];
        _saveSubscription = Prepare("""
            INSERT OR REPLACE INTO subscriptions (client_id, filter, max_qos, no_local, retain_as_published, retain_handling, subscription_id)
            SELECT $client, $filter, $qos, $noLocal, $rap, $rh, $id WHERE EXISTS (SELECT 1 FROM sessions WHERE client_id = $client)
            """, "$client", "$filter", "$qos", "$noLocal", "$rap", "$rh", "$id");
        _deleteSubscription = Prepare("DELETE FROM subscriptions WHERE client_id = $client AND filter = $filter", "$client", "$filter");
        _insertDelivery = Prepare("""
            INSERT OR IGNORE INTO deliveries (client_id, message_id, seq, qos, retain, subscription_ids, share_group)
            SELECT $client, $message, $seq, $qos, $retain, $ids, $group WHERE EXISTS (SELECT 1 FROM sessions WHERE client_id = $client)
            """, "$client", "$message", "$seq", "$qos", "$retain", "$ids", "$group");
        // A new body is written once with its count; a body already stored (a message queued again later: shared
        // subscription moved to another member, retained message on subscribe) keeps its content and gains the count.
        _storeMessage = Prepare("""
            INSERT INTO messages (id, topic, payload, qos, retain, properties, expires_at, publisher, refs)
            VALUES ($id, $topic, $payload, $qos, $retain, $properties, $expires, $publisher, $refs)
            ON CONFLICT (id) DO UPDATE SET refs = refs + excluded.refs
            """, [.. MessageParameters, "$refs"]);
        _updateDelivery = Prepare("UPDATE deliveries SET packet_id = $packet, state = $state WHERE client_id = $client AND message_id = $message",
            "$packet", "$state", "$client", "$message");
        _removals = new PendingRemovals(Prepare);
        _saveRetained = Prepare("""
            INSERT OR REPLACE INTO retained (message_id, topic, payload, qos, retain, properties, expires_at, publisher)
            VALUES ($id, $topic, $payload, $qos, $retain, $properties, $expires, $publisher)
            """, MessageParameters);
        _deleteRetained = Prepare("DELETE FROM retained WHERE topic = $topic", "$topic");
        _addIncoming = Prepare("""
            INSERT OR IGNORE INTO incoming_qos2 (client_id, packet_id)
            SELECT $client, $packet WHERE EXISTS (SELECT 1 FROM sessions WHERE client_id = $client)
            """, "$client", "$packet");
        _removeIncoming = Prepare("DELETE FROM incoming_qos2 WHERE client_id = $client AND packet_id = $packet", "$client", "$packet");

        using var maxSeq = new NativeStatement(connection, "SELECT coalesce(max(seq), 0) FROM deliveries");
        _nextSeq = maxSeq.ExecuteScalarInt64() + 1;
    }

    /// <summary>The parameters of <see cref="BindMessage"/>, in its order.</summary>
    private static readonly string[] MessageParameters = ["$id", "$topic", "$payload", "$qos", "$retain", "$properties", "$expires", "$publisher"];

    public SqliteConnection Connection => _connection;

    public void Begin() => _begin.Execute();

    public void Commit()
    {
        _removals.Flush();
        _commit.Execute();
    }

    /// <summary>Rolls back the open transaction, if SQLite has not already done so after the error.</summary>
    public void TryRollback()
    {
        _removals.Discard();
        try
        {
            _rollback.Execute();
        }
        catch (SqliteException)
        {
            // "cannot rollback - no transaction is active": SQLite rolled back by itself (SQLITE_FULL, SQLITE_IOERR).
        }
    }

    public void SaveSession(SessionRecord s)
    {
        _removals.Flush();
        var st = _saveSession;
        st.Bind(1, s.ClientId);
        st.Bind(2, (byte)s.ProtocolVersion);
        st.Bind(3, (long)s.ExpiryIntervalSeconds);
        st.Bind(4, StoredValues.UnixMilliseconds(s.DisconnectedAt));
        // At most one of the two: a will waits for its delay only once its client's connection has closed.
        var will = s.PendingWill;
        var armed = will is null ? s.ArmedWill : null;
        var message = will?.Message ?? armed?.Message;
        st.Bind(5, StoredValues.UnixMilliseconds(will?.PublishAt));
        st.Bind(6, message?.Id);
        st.Bind(7, message?.Topic);
        if (message is null) st.BindNull(8);
        else st.Bind(8, message.Payload.Span);
        st.Bind(9, message is null ? null : (byte)message.QoS);
        st.Bind(10, message is null ? null : message.Retain ? 1 : 0);
        st.BindBlobOrNull(11, StoredValues.EncodeProperties(message?.Properties));
        st.Bind(12, StoredValues.UnixMilliseconds(message?.ExpiresAt));
        st.Bind(13, message?.PublisherClientId);
        st.Bind(14, (long?)armed?.DelaySeconds);
        st.Bind(15, (long?)armed?.MessageExpirySeconds);
        st.Execute();
    }

    public void DeleteSession(string clientId)
    {
        _removals.Flush();
        foreach (var st in _deleteSession)
        {
            st.Bind(1, clientId);
            st.Execute();
        }
    }

    public void SaveSubscription(string clientId, SubscriptionRecord s)
    {
        _removals.Flush();
        var st = _saveSubscription;
        st.Bind(1, clientId);
        st.Bind(2, s.TopicFilter);
        st.Bind(3, (byte)s.MaximumQoS);
        st.Bind(4, s.NoLocal ? 1 : 0);
        st.Bind(5, s.RetainAsPublished ? 1 : 0);
        st.Bind(6, s.RetainHandling);
        st.Bind(7, s.SubscriptionIdentifier);
        st.Execute();
    }

    public void DeleteSubscription(string clientId, string topicFilter)
    {
        _removals.Flush();
        _deleteSubscription.Bind(1, clientId);
        _deleteSubscription.Bind(2, topicFilter);
        _deleteSubscription.Execute();
    }

    /// <summary>
    /// Stores the deliveries not marked in <paramref name="skip"/> (a later removal in the batch undoes them), then the
    /// body with <c>refs</c> raised by as many as were inserted: sessions that are not stored and deliveries already
    /// queued insert nothing and count nothing. Format version 2 has no insert trigger (see <see cref="SqliteSchema"/>).
    /// </summary>
    public void Enqueue(ApplicationMessage message, IReadOnlyList<QueuedDeliveryRecord> deliveries, ulong skip = 0)
    {
        _removals.Flush();
        var st = _insertDelivery;
        var added = 0;
        for (var i = 0; i < deliveries.Count; i++)
        {
            if (i < 64 && (skip & (1UL << i)) != 0) continue;
            var d = deliveries[i];
            st.Bind(1, d.ClientId);
            st.Bind(2, message.Id);
            st.Bind(3, _nextSeq++);
            st.Bind(4, (byte)d.QoS);
            st.Bind(5, d.Retain ? 1 : 0);
            st.BindBlobOrNull(6, StoredValues.EncodeSubscriptionIds(d.SubscriptionIdentifiers));
            st.Bind(7, d.ShareGroup);
            added += st.Execute();
        }
        // Nothing inserted (no listed session is stored, or all already held it): no body without a reference.
        if (added == 0) return;
        BindMessage(_storeMessage, message);
        _storeMessage.Bind(MessageParameters.Length + 1, added);
        _storeMessage.Execute();
    }

    public void UpdateDelivery(string clientId, long messageId, ushort packetId, DeliveryState state)
    {
        var st = _updateDelivery;
        st.Bind(1, packetId);
        st.Bind(2, (byte)state);
        st.Bind(3, clientId);
        st.Bind(4, messageId);
        st.Execute();
    }

    /// <summary>Held back in <see cref="PendingRemovals"/> until the next change that is not an update or removal of a delivery.</summary>
    public void RemoveDelivery(string clientId, long messageId) => _removals.Add(clientId, messageId);

    public void SaveRetained(ApplicationMessage message)
    {
        _removals.Flush();
        BindMessage(_saveRetained, message);
        _saveRetained.Execute();
    }

    public void DeleteRetained(string topic)
    {
        _removals.Flush();
        _deleteRetained.Bind(1, topic);
        _deleteRetained.Execute();
    }

    public void AddIncomingQoS2(string clientId, ushort packetId)
    {
        _removals.Flush();
        _addIncoming.Bind(1, clientId);
        _addIncoming.Bind(2, packetId);
        _addIncoming.Execute();
    }

    public void RemoveIncomingQoS2(string clientId, ushort packetId)
    {
        _removals.Flush();
        _removeIncoming.Bind(1, clientId);
        _removeIncoming.Bind(2, packetId);
        _removeIncoming.Execute();
    }

    /// <summary>Reads everything, outside any write transaction.</summary>
    public StoreSnapshot Load(CancellationToken cancellationToken) =>
        SnapshotReader.Read(_connection, _path, cancellationToken);

    public void Dispose()
    {
        foreach (var statement in _all) statement.Dispose();
    }

    private static void BindMessage(NativeStatement st, ApplicationMessage message)
    {
        st.Bind(1, message.Id);
        st.Bind(2, message.Topic);
        st.Bind(3, message.Payload.Span);
        st.Bind(4, (byte)message.QoS);
        st.Bind(5, message.Retain ? 1 : 0);
        st.BindBlobOrNull(6, StoredValues.EncodeProperties(message.Properties));
        st.Bind(7, StoredValues.UnixMilliseconds(message.ExpiresAt));
        st.Bind(8, message.PublisherClientId);
    }

    private NativeStatement Prepare(string sql, params string[] parameters)
    {
        var statement = new NativeStatement(_connection, sql, parameters);
        _all.Add(statement);
        return statement;
    }
}
