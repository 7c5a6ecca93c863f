using System.Diagnostics;
using System.Threading.Channels;
using Gatehouse.Protocol;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gatehouse.Storage.Embedded;

/// <summary>
/// The durable store behind <c>--storage sqlite</c>: one SQLite database (<c>gatehouse.db</c>, WAL, synchronous=FULL)
/// under the data directory, written by one thread with group commit. Submissions go into a queue in call order; the
/// writer takes all that are waiting (up to <see cref="SqliteStoreOptions.MaxBatchSize"/>), applies them in one
/// transaction, commits (one fsync) and only then completes their tasks. A batch that fails to commit faults its
/// tasks with <see cref="StoreUnavailableException"/>; the writer carries on with the next batch.
/// </summary>
public sealed class SqliteBrokerStore : IBrokerStore
{
    private readonly SqliteStoreOptions _options;
    // Stopwatch ticks the writer polls for the next operation before it sleeps (Storage:IdlePollMicroseconds).
    private readonly long _idlePollTicks;
    private readonly ILogger _log;
    private readonly SqliteConnection _connection;
    private readonly FileStream _lockFile;
    private readonly StoreCommands _commands;
    private readonly BatchCoalescer _coalescer = new();
    private readonly Channel<StoreOperation> _queue;
    private readonly Thread _writer;
    private readonly TaskCompletionSource _writerDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _commits, _operations, _failedBatches, _largestBatch, _coalesced;
    private int _disposed, _queued;

    private SqliteBrokerStore(SqliteStoreOptions options, ILogger log, SqliteConnection connection, FileStream lockFile)
    {
        _options = options;
        _idlePollTicks = options.IdlePollMicroseconds * Stopwatch.Frequency / 1_000_000;
        _log = log;
        _connection = connection;
        _lockFile = lockFile;
        _commands = new StoreCommands(connection, options.DatabasePath);
        _queue = Channel.CreateUnbounded<StoreOperation>(new UnboundedChannelOptions
        {
            SingleReader = true,
            // Only wakes the writer thread blocked in Wait(); nothing else runs on the submitting thread.
            AllowSynchronousContinuations = true,
        });
        _writer = new Thread(WriterLoop) { IsBackground = true, Name = "Gatehouse store writer" };
        _writer.Start();
    }

    /// <summary>
    /// Opens the store in <see cref="SqliteStoreOptions.DataDirectory"/>, creating the directory and database when
    /// absent. Throws <see cref="StoreFormatException"/> for an unknown format version or a corrupt file and
    /// <see cref="StoreUnavailableException"/> when the files cannot be opened for writing or another process holds them.
    /// </summary>
    public static SqliteBrokerStore Open(SqliteStoreOptions options, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var log = logger ?? NullLogger.Instance;
        var started = Stopwatch.StartNew();
        var directory = Path.GetFullPath(options.DataDirectory);
        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StoreUnavailableException($"Store directory {directory}: cannot create it ({e.Message})", e);
        }
        var lockFile = AcquireLock(directory);
        try
        {
            var connection = SqliteSchema.Open(options, log);
            var store = new SqliteBrokerStore(options, log, connection, lockFile);
            log.LogInformation("Opened store {Path} in {Elapsed} ms (max batch {MaxBatch}, flush interval {Interval} ms, SQLite {Threading})",
                options.DatabasePath, started.ElapsedMilliseconds, options.MaxBatchSize, options.FlushIntervalMs, SqliteThreadingMode.Current);
            return store;
        }
        catch
        {
            lockFile.Dispose();
            throw;
        }
    }

    /// <summary><see cref="Open"/> off the calling thread (the integrity check reads the whole file).</summary>
    public static Task<SqliteBrokerStore> OpenAsync(SqliteStoreOptions options, ILogger? logger = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Open(options, logger), cancellationToken);

    /// <summary>Counters since the store was opened (for metrics and the benchmark).</summary>
    public SqliteStoreStatistics Statistics => new(
        Interlocked.Read(ref _commits), Interlocked.Read(ref _operations), Interlocked.Read(ref _failedBatches),
        Interlocked.Read(ref _largestBatch), Volatile.Read(ref _queued), Interlocked.Read(ref _coalesced));

    public string DatabasePath => _options.DatabasePath;

    public async ValueTask<StoreSnapshot> LoadAsync(CancellationToken cancellationToken)
    {
        var load = new LoadOperation(cancellationToken);
        await Submit(load).ConfigureAwait(false);
        return load.Snapshot!;
    }

    /// <summary>Completes when everything submitted before it is durable.</summary>
    public ValueTask FlushAsync() => Submit(new FlushOperation());

    /// <summary>Runs <paramref name="action"/> on the writer's connection after everything submitted before it.</summary>
    internal ValueTask RunOnWriter(Action<SqliteConnection> action) => Submit(new ConnectionOperation(action));

    public ValueTask SaveSession(SessionRecord session) => Submit(new SaveSessionOperation(session));

    public ValueTask DeleteSession(string clientId) => Submit(new DeleteSessionOperation(clientId));

    public ValueTask SaveSubscription(string clientId, SubscriptionRecord subscription) =>
        Submit(new SaveSubscriptionOperation(clientId, subscription));

    public ValueTask DeleteSubscription(string clientId, string topicFilter) =>
        Submit(new DeleteSubscriptionOperation(clientId, topicFilter));

    public ValueTask Enqueue(ApplicationMessage message, IReadOnlyList<QueuedDeliveryRecord> deliveries, AcceptedQoS2? accepted = null) =>
        Submit(new EnqueueOperation(message, deliveries, accepted));

    public ValueTask UpdateDelivery(string clientId, long messageId, ushort packetId, DeliveryState state) =>
        Submit(new UpdateDeliveryOperation(clientId, messageId, packetId, state));

    public ValueTask RemoveDelivery(string clientId, long messageId) => Submit(new RemoveDeliveryOperation(clientId, messageId));

    public ValueTask SaveRetained(ApplicationMessage message) => Submit(new SaveRetainedOperation(message));

    public ValueTask DeleteRetained(string topic) => Submit(new DeleteRetainedOperation(topic));

    public ValueTask AddIncomingQoS2(string clientId, ushort packetId) => Submit(new AddIncomingQoS2Operation(clientId, packetId));

    public ValueTask RemoveIncomingQoS2(string clientId, ushort packetId) => Submit(new RemoveIncomingQoS2Operation(clientId, packetId));

    /// <summary>Commits everything already submitted, then closes the database and releases the data directory.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _queue.Writer.TryComplete();
        await _writerDone.Task.ConfigureAwait(false);
        _commands.Dispose();
        _connection.Dispose();
        _lockFile.Dispose();
        _log.LogInformation("Closed store {Path} ({Commits} commits, {Operations} operations, {Coalesced} writes coalesced)", DatabasePath, _commits, _operations, _coalesced);
    }

    private ValueTask Submit(StoreOperation operation)
    {
        // The channel is FIFO: the order of these calls (made under the broker's locks) is the commit order.
        Interlocked.Increment(ref _queued);
        if (_queue.Writer.TryWrite(operation)) return new ValueTask(operation.Task);
        Interlocked.Decrement(ref _queued);
        // Failed like any other operation (observed: a caller may submit without waiting, see IBrokerStore).
        operation.Fail(new StoreUnavailableException($"Store {DatabasePath} is closed."));
        return new ValueTask(operation.Task);
    }

    private void WriterLoop()
    {
        var batch = new List<StoreOperation>(Math.Min(_options.MaxBatchSize, 4096));
        try
        {
            while (Collect(batch))
            {
                Interlocked.Add(ref _queued, -batch.Count);
                Execute(batch);
                batch.Clear();
                SubmissionWatch.Notify();
            }
        }
        catch (Exception e)
        {
            // Not expected: Execute handles everything. Fail whatever is left rather than leaving tasks hanging.
            _log.LogCritical(e, "Store writer stopped unexpectedly");
            var failure = new StoreUnavailableException($"Store {DatabasePath}: the writer stopped ({e.Message})", e);
            foreach (var op in batch) op.Fail(failure);
            _queue.Writer.TryComplete();
            while (_queue.Reader.TryRead(out var op)) op.Fail(failure);
            SubmissionWatch.Notify();
        }
        finally
        {
            _writerDone.TrySetResult();
        }
    }

    /// <summary>
    /// Waits for the first operation (polling for Storage:IdlePollMicroseconds, then blocking), then takes what is waiting;
    /// false once the queue is completed and empty.
    /// </summary>
    private bool Collect(List<StoreOperation> batch)
    {
        var reader = _queue.Reader;
        StoreOperation? op;
        var pollUntil = Stopwatch.GetTimestamp() + _idlePollTicks;
        while (!reader.TryRead(out op))
        {
            if (_idlePollTicks > 0 && Stopwatch.GetTimestamp() < pollUntil)
            {
                // Let the threads that will submit next run first (they share the core with this one on a small box).
                Thread.Yield();
                continue;
            }
            var wait = reader.WaitToReadAsync();
            var more = wait.IsCompleted ? wait.Result : wait.AsTask().GetAwaiter().GetResult();
            if (!more) return false;
        }
        batch.Add(op);
        if (op.RunsAlone) return true;

        var max = _options.MaxBatchSize;
        var deadline = _options.FlushIntervalMs > 0 ? Environment.TickCount64 + _options.FlushIntervalMs : 0;
        var yielded = false;
        while (batch.Count < max)
        {
            if (reader.TryRead(out op))
            {
                batch.Add(op);
                yielded = false;
                if (op.RunsAlone) break;
                continue;
            }
            // Nothing waiting: let the threads that were about to submit run first, once for each time the queue ran
            // dry. When the broker's threads share the CPU with the writer they are exactly those producers, and every
            // commit costs the same fsync and page writes however few operations it carries; when they do not, or
            // nothing else is runnable, the yield returns at once and no operation waits longer.
            if (!yielded && _options.YieldBeforeCommit)
            {
                yielded = true;
                Thread.Yield();
                continue;
            }
            var remaining = deadline - Environment.TickCount64;
            if (remaining <= 0) break;
            // Wait for more until the flush interval ends; the queue completing also ends the wait.
            var wait = reader.WaitToReadAsync().AsTask();
            if (!wait.Wait(TimeSpan.FromMilliseconds(remaining)) || !wait.Result) break;
        }
        return true;
    }

    private void Execute(List<StoreOperation> batch)
    {
        var last = batch[^1];
        var writes = last.RunsAlone ? batch.Count - 1 : batch.Count;
        if (writes > 0) Commit(batch, writes);
        if (last.RunsAlone) RunAlone(last);
    }

    private void Commit(List<StoreOperation> batch, int count)
    {
        var coalesced = _coalescer.Coalesce(batch, count);
        try
        {
            _commands.Begin();
            for (var i = 0; i < count; i++) batch[i].Apply(_commands);
            _commands.Commit();
        }
        catch (Exception e)
        {
            _commands.TryRollback();
            var failed = Interlocked.Increment(ref _failedBatches);
            var failure = new StoreUnavailableException($"Store {DatabasePath}: the change could not be made durable ({Describe(e)})", e);
            for (var i = 0; i < count; i++) batch[i].Fail(failure);
            _lastFailed = true;
            // Every failing batch is logged at Error, so a full disk is visible until it is solved; the broker rate-limits
            // what it tells clients.
            _log.LogError(e, "Store commit failed for {Count} operations ({Failed} failed batches so far): {Problem}", count, failed, Describe(e));
            return;
        }
        if (_lastFailed)
        {
            _lastFailed = false;
            _log.LogInformation("Store commits succeed again");
        }
        Interlocked.Increment(ref _commits);
        Interlocked.Add(ref _operations, count);
        if (coalesced > 0) Interlocked.Add(ref _coalesced, coalesced);
        if (count > _largestBatch) Interlocked.Exchange(ref _largestBatch, count);
        for (var i = 0; i < count; i++) batch[i].TrySetResult();
    }

    private bool _lastFailed;

    private void RunAlone(StoreOperation op)
    {
        try
        {
            op.Apply(_commands);
            op.TrySetResult();
        }
        catch (OperationCanceledException e)
        {
            op.TrySetCanceled(e.CancellationToken);
        }
        catch (StoreFormatException e)
        {
            op.TrySetException(e);
        }
        catch (Exception e)
        {
            _log.LogError(e, "Store read failed: {Problem}", Describe(e));
            op.Fail(new StoreUnavailableException($"Store {DatabasePath}: read failed ({Describe(e)})", e));
        }
    }

    private static string Describe(Exception e) => e switch
    {
        SqliteException { SqliteErrorCode: 13 } => "disk full",
        SqliteException { SqliteErrorCode: 8 } => "the database is read-only",
        SqliteException { SqliteErrorCode: 10 } s => $"I/O error: {s.Message.ReplaceLineEndings(" ")}",
        _ => e.Message.ReplaceLineEndings(" "),
    };

    internal static FileStream AcquireLock(string directory)
    {
        var path = Path.Combine(directory, "gatehouse.lock");
        try
        {
            // FileShare.None takes an exclusive advisory lock (flock on Unix): a second broker on the same directory
            // would corrupt the queues' meaning even though SQLite itself stays consistent.
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            throw new StoreUnavailableException($"Store directory {directory} is in use by another Gatehouse process ({path} is locked)", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new StoreUnavailableException($"Store directory {directory} is not writable ({e.Message})", e);
        }
    }
}

/// <summary>
/// Writer counters; <see cref="Operations"/> / <see cref="Commits"/> is the group-commit effect. <see cref="CoalescedWrites"/>
/// counts the updates and enqueued deliveries never written because a removal in the same batch undid them.
/// </summary>
public readonly record struct SqliteStoreStatistics(long Commits, long Operations, long FailedBatches, long LargestBatch, int Queued,
    long CoalescedWrites);
