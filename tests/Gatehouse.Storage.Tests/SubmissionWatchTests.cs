using Gatehouse.Storage.Embedded;

using static Gatehouse.Storage.Tests.SqliteTestRecords;

namespace Gatehouse.Storage.Tests;

/// <summary>
/// <see cref="SubmissionWatch"/>: a waiter on a store submission is told by the store's writer once the batch holding it
/// has completed, committed or failed; anything that is not a pending submission is refused, so its caller awaits it.
/// </summary>
public sealed class SubmissionWatchTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly TempDirectory _directory = new();
    private SqliteBrokerStore _store = null!;

    public async Task InitializeAsync()
    {
        _store = SqliteBrokerStore.Open(new SqliteStoreOptions { DataDirectory = _directory.Path });
        await _store.SaveSession(Session("c"));
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        _directory.Dispose();
    }

    [Fact]
    public async Task A_waiter_is_told_on_the_writer_once_the_batch_of_its_submission_committed()
    {
        using var gate = new ManualResetEventSlim();
        var held = _store.RunOnWriter(_ => gate.Wait(Patience)).AsTask();
        var submission = _store.Enqueue(Message(1), [To("c")]).AsTask();
        var waiter = new RecordingWaiter(submission);

        Assert.True(SubmissionWatch.IsSubmission(submission));
        Assert.True(SubmissionWatch.TryWatch(submission, waiter));
        await Task.Delay(50);
        Assert.False(waiter.Told.Task.IsCompleted);

        gate.Set();
        var told = await waiter.Told.Task.WaitAsync(Patience);
        Assert.True(told.Completed, "told before its submission completed");
        Assert.True(told.Succeeded);
        Assert.Equal("Gatehouse store writer", told.Thread);
        await held;
    }

    [Fact]
    public async Task A_waiter_is_told_when_the_batch_of_its_submission_failed()
    {
        using var gate = new ManualResetEventSlim();
        var held = _store.RunOnWriter(connection =>
        {
            gate.Wait(Patience);
            // The next batch's enqueue then fails, and with it the batch.
            using var drop = connection.CreateCommand();
            drop.CommandText = "DROP TABLE deliveries";
            drop.ExecuteNonQuery();
        }).AsTask();
        var submission = _store.Enqueue(Message(1), [To("c")]).AsTask();
        var waiter = new RecordingWaiter(submission);
        Assert.True(SubmissionWatch.TryWatch(submission, waiter));

        gate.Set();
        var told = await waiter.Told.Task.WaitAsync(Patience);
        Assert.True(told.Completed);
        Assert.False(told.Succeeded);
        await held;
        await Assert.ThrowsAsync<StoreUnavailableException>(() => submission);
    }

    [Fact]
    public async Task A_completed_submission_is_not_watched_and_its_waiter_is_never_told()
    {
        var submission = _store.Enqueue(Message(1), [To("c")]).AsTask();
        await submission;
        var waiter = new RecordingWaiter(submission);

        Assert.False(SubmissionWatch.TryWatch(submission, waiter));
        await _store.FlushAsync();
        Assert.False(waiter.Told.Task.IsCompleted);
    }

    [Fact]
    public async Task Tasks_that_are_not_one_submission_are_not_watched()
    {
        using var gate = new ManualResetEventSlim();
        var held = _store.RunOnWriter(_ => gate.Wait(Patience)).AsTask();
        var both = Task.WhenAll(_store.Enqueue(Message(1), [To("c")]).AsTask(), _store.Enqueue(Message(2), [To("c")]).AsTask());
        var other = new TaskCompletionSource().Task;

        Assert.False(SubmissionWatch.IsSubmission(both));
        Assert.False(SubmissionWatch.TryWatch(both, new RecordingWaiter(both)));
        Assert.False(SubmissionWatch.IsSubmission(other));
        Assert.False(SubmissionWatch.TryWatch(other, new RecordingWaiter(other)));
        gate.Set();
        await held;
        await both;
    }

    private sealed class RecordingWaiter(Task submission) : ISubmissionWaiter
    {
        public TaskCompletionSource<(bool Completed, bool Succeeded, string? Thread)> Told { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void OnSubmissionCompleted() =>
            Told.TrySetResult((submission.IsCompleted, submission.IsCompletedSuccessfully, Thread.CurrentThread.Name));
    }
}
