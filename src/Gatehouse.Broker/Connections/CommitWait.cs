using System.Runtime.CompilerServices;
using Gatehouse.Storage;

namespace Gatehouse.Broker.Connections;

/// <summary>
/// What a connection's writer awaits when the next packet must wait for a store submission (a PUBACK for its message's
/// group commit): the store's writer says when it completed (<see cref="SubmissionWatch"/>) and the writer resumes on
/// the connection's own I/O thread (<see cref="IConnectionThread"/>), or on the thread pool over other transports. No
/// continuation hangs on the submission's task, so the commit costs no thread-pool hand-off per waiting connection.
/// Used only for a task <see cref="SubmissionWatch"/> recognises; anything else is awaited as usual.
/// </summary>
internal readonly struct CommitWait(Task submission, object transport) : ICriticalNotifyCompletion
{
    public CommitWait GetAwaiter() => this;

    public bool IsCompleted => submission.IsCompleted;

    public void GetResult()
    {
    }

    public void OnCompleted(Action continuation) => UnsafeOnCompleted(continuation);

    public void UnsafeOnCompleted(Action continuation)
    {
        var resume = new Resume(continuation, transport);
        // Completed meanwhile: resumed all the same, never inline (the awaiting method has not returned yet).
        if (!SubmissionWatch.TryWatch(submission, resume)) resume.OnSubmissionCompleted();
    }

    private sealed class Resume(Action continuation, object transport) : ISubmissionWaiter, IThreadPoolWorkItem
    {
        public void OnSubmissionCompleted()
        {
            if (transport is IConnectionThread thread) thread.Post(this);
            else ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }

        public void Execute() => continuation();
    }
}
