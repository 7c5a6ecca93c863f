namespace Gatehouse.Storage.Embedded;

/// <summary>
/// Drops the writes of a batch that a later operation of the same batch undoes, before the batch is applied: an
/// <see cref="UpdateDeliveryOperation"/> (packet id at send) followed by the <see cref="RemoveDeliveryOperation"/> of its
/// PUBACK, or an <see cref="EnqueueOperation"/> whose delivery is removed again (sent and acknowledged while the previous
/// commit ran). The batch commits atomically, so nothing between the two is ever visible on disk; the removal itself is
/// always kept, because the row may have existed before the batch (an ignored duplicate enqueue). The dropped operations
/// still complete with the batch, after its commit, like every other.
/// </summary>
internal sealed class BatchCoalescer
{
    private readonly HashSet<DeliveryKey> _removedLater = [];

    /// <summary>Marks what later removals undo in the first <paramref name="count"/> operations; returns how many writes were dropped.</summary>
    public int Coalesce(List<StoreOperation> batch, int count)
    {
        // Walk backwards so each operation sees exactly the removals that come after it. A removal undoes every earlier
        // update or enqueue of its key: whatever those wrote is deleted by it, and nothing reads packet id or state in between.
        var dropped = 0;
        for (var i = count - 1; i >= 0; i--)
        {
            switch (batch[i])
            {
                case RemoveDeliveryOperation remove:
                    _removedLater.Add(remove.Key);
                    break;
                case UpdateDeliveryOperation update when _removedLater.Count > 0 && _removedLater.Contains(update.Key):
                    update.Undone = true;
                    dropped++;
                    break;
                case EnqueueOperation enqueue when _removedLater.Count > 0:
                    dropped += enqueue.MarkUndone(_removedLater);
                    break;
            }
        }
        _removedLater.Clear();
        return dropped;
    }
}
