using System.IO.Pipelines;

namespace Gatehouse.Broker.Connections;

/// <summary>
/// A transport's reader that can report a read's completion to a callback with state instead of through a ValueTask
/// its owner awaits. A connection reading through it holds no async state machine while it waits for input, which is
/// what an idle connection does (176 bytes each). The sockets transport's reader implements it.
/// </summary>
public interface ICallbackReader
{
    /// <summary>
    /// Starts a read. True, with <paramref name="result"/>, when it completed at once. Otherwise false, and
    /// <paramref name="completed"/>(<paramref name="state"/>) is called once it completes (on the thread that completes
    /// it, or from the thread pool when that happened before the callback was registered); then
    /// <see cref="GetCompletedRead"/> gives its result.
    /// </summary>
    bool TryStartRead(out ReadResult result, Action<object?> completed, object state);

    /// <summary>The result of the read that called back; throws what the read failed with.</summary>
    ReadResult GetCompletedRead();
}
