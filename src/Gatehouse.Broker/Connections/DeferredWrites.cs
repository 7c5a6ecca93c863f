namespace Gatehouse.Broker.Connections;

/// <summary>
/// Writers to start at the end of a read loop's batch, on the read loop's own thread. Routing one received buffer
/// usually queues packets for a few connections (the subscribers, and the publisher's own acknowledgement). Starting
/// each writer through the thread pool costs a hand-off per packet (on one core, a context switch); running them
/// inline as each packet is queued costs a flush per packet. Deferring the start to the end of the batch gets both:
/// every writer runs once per received buffer, on the thread already running, and sends everything queued for it in
/// one write. Only a read loop opens a batch, and only for code that runs synchronously; any other producer (a store
/// commit, a timer) starts the writer through the thread pool.
/// </summary>
internal static class DeferredWrites
{
    [ThreadStatic] private static List<ClientConnection>? t_batch;
    [ThreadStatic] private static List<ClientConnection>? t_spare;

    /// <summary>Starts collecting writer starts on this thread (no-op when a batch is already open).</summary>
    public static void Begin()
    {
        if (t_batch is not null) return;
        t_batch = t_spare ?? [];
        t_spare = null;
    }

    /// <summary>Adds a writer to start when the batch ends; false when no batch is open on this thread.</summary>
    public static bool TryDefer(ClientConnection connection)
    {
        if (t_batch is not { } batch) return false;
        batch.Add(connection);
        return true;
    }

    /// <summary>Closes the batch and runs every deferred writer inline, until it retires or must wait.</summary>
    public static void End()
    {
        if (t_batch is not { } batch) return;
        // Closed before waking: a writer running here must not defer into the batch being drained.
        t_batch = null;
        try
        {
            for (var i = 0; i < batch.Count; i++) batch[i].RunWriter();
        }
        finally
        {
            batch.Clear();
            t_spare = batch;
        }
    }
}
