namespace Gatehouse.Broker.Diagnostics;

/// <summary>
/// For store submissions no acknowledgement waits on (e.g. removing a delivery after PUBACK): the submission order is
/// what matters, and a failure is still observed rather than lost as an unobserved task exception.
/// </summary>
public static class StoreSubmission
{
    public static void Forget(this ValueTask submission)
    {
        if (submission.IsCompletedSuccessfully) return;
        _ = submission.AsTask().ContinueWith(static t => _ = t.Exception, CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }
}
