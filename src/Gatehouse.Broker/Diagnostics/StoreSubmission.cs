namespace Gatehouse.Broker.Diagnostics;

/// <summary>
/// For store submissions no acknowledgement waits on (e.g. removing a delivery after PUBACK): the submission order is
/// what matters. A failure is not lost: the store logs every failed batch and marks the tasks it fails observed
/// (<see cref="Gatehouse.Storage.IBrokerStore"/>), so nothing is attached here; a continuation per submission cost two
/// allocations per message delivered from a persistent session.
/// </summary>
public static class StoreSubmission
{
    public static void Forget(this ValueTask submission)
    {
    }
}
