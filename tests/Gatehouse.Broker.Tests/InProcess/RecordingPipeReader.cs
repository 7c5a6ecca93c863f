using System.Buffers;
using System.IO.Pipelines;

namespace Gatehouse.Broker.Tests.InProcess;

/// <summary>A <see cref="PipeReader"/> that passes everything on and tells whether the bytes it last gave out were all consumed.</summary>
internal sealed class RecordingPipeReader(PipeReader inner) : PipeReader
{
    private ReadOnlySequence<byte> _given;
    private volatile bool _holdingUnconsumed;

    /// <summary>The last read gave out bytes that have not been consumed yet (not advanced past, or not read again).</summary>
    public bool HoldsUnconsumedInput => _holdingUnconsumed;

    public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) =>
        Given(await inner.ReadAsync(cancellationToken));

    public override bool TryRead(out ReadResult result)
    {
        if (!inner.TryRead(out result)) return false;
        Given(result);
        return true;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        // Measured before passing it on: once advanced, the sequence's segments may be reused.
        _holdingUnconsumed = !_given.Slice(consumed).IsEmpty;
        inner.AdvanceTo(consumed, examined);
    }

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);

    private ReadResult Given(ReadResult result)
    {
        _given = result.Buffer;
        _holdingUnconsumed = !result.Buffer.IsEmpty;
        return result;
    }
}
