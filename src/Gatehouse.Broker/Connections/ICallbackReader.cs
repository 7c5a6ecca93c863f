using System.IO.Pipelines;

namespace Gatehouse.Broker.Connections;

/// <summary>
/// A transport's reader that can report a read's completion to a callback with state instead of through a ValueTask
/// its owner awaits. A connection reading through it holds no async state machine while it waits for input, which is
/// what an idle connection does (176 bytes each). The sockets transport's connection implements it and, to stay small,
/// makes its <see cref="PipeReader"/> form only when asked (a transport that implements this is read through it alone).
/// </summary>
public interface ICallbackReader
{
    /// <summary>
    /// Starts a read. True, with <paramref name="result"/>, when it completed at once. Otherwise false, and
    /// <paramref name="completion"/> is called once it completes, on the thread that completes it; then
    /// <see cref="GetCompletedRead"/> gives its result.
    /// </summary>
    bool TryStartRead(out ReadResult result, IReadCompletion completion);

    /// <summary>The result of the read that called back; throws what the read failed with.</summary>
    ReadResult GetCompletedRead();

    /// <summary>As <see cref="PipeReader.AdvanceTo(SequencePosition, SequencePosition)"/>.</summary>
    void AdvanceTo(SequencePosition consumed, SequencePosition examined);

    /// <summary>As <see cref="PipeReader.CancelPendingRead"/>: a waiting read completes, canceled.</summary>
    void CancelPendingRead();

    /// <summary>As <see cref="PipeReader.Complete"/>: no more reads.</summary>
    void Complete();
}

/// <summary>Told by an <see cref="ICallbackReader"/> that the read it started has completed.</summary>
public interface IReadCompletion
{
    void OnReadCompleted();
}
