using System.Buffers;
using System.IO.Pipelines;

namespace Gatehouse.Broker.Connections;

/// <summary>
/// What the writer needs of a transport's output: a buffer to encode packets into and a flush that sends them. A
/// transport whose connection object implements it beside <see cref="IDuplexPipe"/> (the sockets transport) saves every
/// connection a <see cref="PipeWriter"/> object of its own (64 bytes); any other pipe is used through
/// <see cref="PipeTransport"/>. The members mean what the same members of <see cref="PipeWriter"/> mean.
/// </summary>
public interface IConnectionOutput : IBufferWriter<byte>
{
    ValueTask<FlushResult> FlushAsync();

    /// <summary>Ends the flush waiting for a peer that does not read (or the next one) with <see cref="FlushResult.IsCanceled"/>.</summary>
    void CancelPendingFlush();

    ValueTask CompleteAsync();
}
