using System.IO.Pipelines;

namespace Gatehouse.Broker.Connections;

/// <summary>
/// A transport that is only an <see cref="IDuplexPipe"/> (Kestrel's TLS, WebSocket and TCP connections, in-memory pipes),
/// given the <see cref="IConnectionOutput"/> the writer uses: each member is the pipe writer's own.
/// </summary>
internal sealed class PipeTransport(IDuplexPipe pipe) : IDuplexPipe, IConnectionOutput
{
    public PipeReader Input => pipe.Input;
    public PipeWriter Output => pipe.Output;

    public void Advance(int count) => pipe.Output.Advance(count);
    public Memory<byte> GetMemory(int sizeHint = 0) => pipe.Output.GetMemory(sizeHint);
    public Span<byte> GetSpan(int sizeHint = 0) => pipe.Output.GetSpan(sizeHint);
    public ValueTask<FlushResult> FlushAsync() => pipe.Output.FlushAsync();
    public void CancelPendingFlush() => pipe.Output.CancelPendingFlush();
    public ValueTask CompleteAsync() => pipe.Output.CompleteAsync();
}
