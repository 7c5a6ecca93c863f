namespace Gatehouse.Storage;

/// <summary>Told by <see cref="SubmissionWatch"/> that a store submission it watches has completed.</summary>
public interface ISubmissionWaiter
{
    /// <summary>
    /// Called once, on the thread that completed the submission (a store's writer, right after its batch) or on the
    /// watcher's own thread when the submission completed as it was being watched. It must only hand work off.
    /// </summary>
    void OnSubmissionCompleted();
}

/// <summary>
/// Lets a waiter learn that a durable store's submission has completed without hanging a continuation on its task. The
/// embedded store completes a submission's task with its continuations sent to the thread pool (the writer must not run
/// them), so each waiting connection cost a thread-pool hand-off per group commit, and the pool's workers spun between
/// commits on the one core the broker shares with the writer. A waiter watched here is told by the writer itself, after
/// each batch, and chooses where to run next (a connection: the I/O thread that serves it). Process-wide, so that a
/// submission of any store is told by the store that completes it.
/// </summary>
public static class SubmissionWatch
{
    /// <summary>The <see cref="Task.AsyncState"/> of every submission task a store completes through <see cref="Notify"/>.</summary>
    internal static readonly object Submission = new();

    /// <summary>True for a store's submission task, which <see cref="TryWatch"/> can watch.</summary>
    public static bool IsSubmission(Task task) => ReferenceEquals(task.AsyncState, Submission);

    private static readonly Lock s_gate = new();
    private static readonly List<(Task Submission, ISubmissionWaiter Waiter)> s_watched = [];
    private static int s_count;
    // The waiters one writer tells after a batch, kept per writer thread between batches.
    [ThreadStatic] private static List<ISubmissionWaiter>? t_due;

    /// <summary>
    /// True when <paramref name="submission"/> is an uncompleted store submission: <paramref name="waiter"/> is then told
    /// once it completes. False for a completed submission and for any other task (a combination of submissions, a
    /// signal of the broker's own), which the caller awaits as usual.
    /// </summary>
    public static bool TryWatch(Task submission, ISubmissionWaiter waiter)
    {
        if (!IsSubmission(submission)) return false;
        lock (s_gate)
        {
            // Checked under the lock the writer takes after completing its batch: either it is seen completed here, or
            // the writer sees it in the list.
            if (submission.IsCompleted) return false;
            s_watched.Add((submission, waiter));
            Volatile.Write(ref s_count, s_watched.Count);
            return true;
        }
    }

    /// <summary>Called by a store's writer after it completed a batch's submissions: tells the waiters whose submission completed.</summary>
    internal static void Notify()
    {
        if (Volatile.Read(ref s_count) == 0) return;
        var due = t_due ??= [];
        lock (s_gate)
        {
            // From the end, moving the last entry into a completed one's place: every entry is looked at once.
            for (var i = s_watched.Count - 1; i >= 0; i--)
            {
                if (!s_watched[i].Submission.IsCompleted) continue;
                due.Add(s_watched[i].Waiter);
                s_watched[i] = s_watched[^1];
                s_watched.RemoveAt(s_watched.Count - 1);
            }
            Volatile.Write(ref s_count, s_watched.Count);
        }
        try
        {
            foreach (var waiter in due) waiter.OnSubmissionCompleted();
        }
        finally
        {
            due.Clear();
        }
    }
}
