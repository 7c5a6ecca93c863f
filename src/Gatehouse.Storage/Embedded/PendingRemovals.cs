namespace Gatehouse.Storage.Embedded;

/// <summary>
/// Removals of deliveries collected while a batch is applied and executed as one DELETE of up to <see cref="Slots"/> rows
/// of one session. A DELETE that fires the body-releasing trigger runs in its own statement journal; paying for that,
/// and for the statement itself, once per group instead of once per PUBACK took a fifth off the store's cost of a
/// drained message (the trigger's own work per row remains).
/// <para>
/// Removals may be held back past updates of deliveries (an update of a row that a pending removal deletes ends the
/// same either way: the row is gone), but past nothing else: <see cref="StoreCommands"/> flushes before every other
/// change and before COMMIT, so re-enqueueing a removed delivery and releasing bodies keep the submission order.
/// </para>
/// </summary>
internal sealed class PendingRemovals
{
    public const int Slots = 32;

    private readonly NativeStatement _one;
    private readonly NativeStatement _many;
    private readonly long[] _messageIds = new long[Slots];
    private string? _clientId;
    private int _count;

    public PendingRemovals(Func<string, string[], NativeStatement> prepare)
    {
        _one = prepare("DELETE FROM deliveries WHERE client_id = $client AND message_id = $message", ["$client", "$message"]);
        var slots = Enumerable.Range(0, Slots).Select(i => $"$m{i}").ToArray();
        // Unused slots are bound to NULL, which matches no row.
        _many = prepare($"DELETE FROM deliveries WHERE client_id = $client AND message_id IN ({string.Join(", ", slots)})",
            ["$client", .. slots]);
    }

    public void Add(string clientId, long messageId)
    {
        if (_count > 0 && !string.Equals(_clientId, clientId, StringComparison.Ordinal)) Flush();
        _clientId = clientId;
        _messageIds[_count++] = messageId;
        if (_count == Slots) Flush();
    }

    public void Flush()
    {
        if (_count == 0) return;
        var count = _count;
        _count = 0;
        if (count == 1)
        {
            _one.Bind(1, _clientId);
            _one.Bind(2, _messageIds[0]);
            _one.Execute();
            return;
        }
        _many.Bind(1, _clientId);
        for (var i = 0; i < Slots; i++)
        {
            if (i < count) _many.Bind(i + 2, _messageIds[i]);
            else _many.BindNull(i + 2);
        }
        _many.Execute();
    }

    /// <summary>Forgets what is pending (the batch is being rolled back).</summary>
    public void Discard() => _count = 0;
}
