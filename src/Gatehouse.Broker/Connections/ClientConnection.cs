using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Gatehouse.Broker.Channel;
using Gatehouse.Broker.Diagnostics;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;
using Gatehouse.Storage;
using Microsoft.Extensions.Logging;

namespace Gatehouse.Broker.Connections;

/// <summary>
/// The I/O of one connection: a read loop that decodes packets from the transport pipe and hands them to the
/// channel in order, and a writer that drains the outbound queue into the pipe, flushing once per batch. The writer
/// runs only while packets are queued (started by whoever queues into an idle queue, see <see cref="OutboundQueue"/>):
/// an idle connection holds no writer.
/// </summary>
public sealed class ClientConnection : OutboundQueue, IThreadPoolWorkItem, IReadCompletion
{
    // The transport, its output included: the connection object itself where it implements IConnectionOutput (sockets),
    // else a PipeTransport around the pipe.
    private readonly IDuplexPipe _transport;
    private long _queuedPublishBytes;
    // Set while more PUBLISH payload waits to be written than BackpressureHighWaterBytes: publishers wait on it.
    private RoomSignal? _room;
    // A byte, as the flags beside it: they fill the queue's last word, so the connection is 8 bytes smaller.
    private byte _closing;
    private volatile bool _peerInputEnded;
    private volatile bool _lingerRequested;
    private volatile bool _readPaused;
    // A reply read in this batch waits for a commit: acknowledge the received bytes when the batch is done.
    private bool _acknowledgeReceived;

    /// <summary>How long, and how much, a server-initiated close keeps reading (and discarding) what the peer still sends.</summary>
    private static readonly TimeSpan LingerTime = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan LingerIdle = TimeSpan.FromMilliseconds(250);
    private const long LingerBytes = 1024 * 1024;
    /// <summary>How long a connection being closed waits for its peer to read what is already being sent.</summary>
    private static readonly TimeSpan UnreadGrace = TimeSpan.FromSeconds(5);

    /// <remarks>
    /// The broker, its context and the logger are reached through the channel (<see cref="Broker"/>, <see cref="Context"/>,
    /// <see cref="Log"/>): fields for them would cost every connection 8 bytes each.
    /// </remarks>
    public ClientConnection(IDuplexPipe transport, ConnectionInfo info, MqttBroker broker)
    {
        _transport = transport is IConnectionOutput ? transport : new PipeTransport(transport);
        _origin = info.Origin;
        _remoteAddress = info.RemoteAddress;
        _remotePort = (ushort)info.RemotePort;
        _clientCertificate = info.ClientCertificate;
        Protocol = new MqttChannel(broker, this);
    }

    public ConnectionInfo Info => new(_origin, _remoteAddress, _remotePort, _clientCertificate);
    // The ConnectionInfo in parts: as a struct field it is 32 bytes (its int port padded to 8), here the port (a TCP port
    // fits 16 bits) fills the spare bytes beside the flags.
    private readonly ConnectionOrigin _origin;
    private readonly IPAddress? _remoteAddress;
    private readonly X509Certificate2? _clientCertificate;
    private readonly ushort _remotePort;
    public MqttChannel Protocol { get; }
    public bool IsClosing => Volatile.Read(ref _closing) != 0;
    /// <summary>
    /// True while the read loop waits for a packet's handling (backpressure, a password check) instead of reading: what
    /// the client sends meanwhile waits in the socket, so its keep-alive must not run out for it [MQTT-3.1.2-22].
    /// </summary>
    internal bool IsReadPaused => _readPaused;
    private MqttBroker Broker => Protocol.Broker;
    private BrokerContext Context => Broker.Context;
    /// <summary>The packets waiting for the writer: this connection itself, as an <see cref="OutboundQueue"/>.</summary>
    private OutboundQueue Outgoing => this;
    private ILogger Log => Context.ConnectionLog;
    private IConnectionOutput Output => (IConnectionOutput)_transport;

    /// <summary>
    /// Runs the connection until it closes. A transport that signals a lost peer separately calls <see cref="AbortIfIdle"/>.
    /// Over a transport whose reader calls back (<see cref="ICallbackReader"/>) the read loop runs on those callbacks and
    /// the task returned is already complete; the connection reports its end to the broker either way.
    /// </summary>
    public Task RunAsync()
    {
        if (_transport is not ICallbackReader reader) return ReadLoopAsync();
        ReadUntilWaiting(reader, resumed: false);
        return Task.CompletedTask;
    }

    /// <summary>
    /// The read loop for readers that only offer ReadAsync (Kestrel's). Everything else it does lives in other methods
    /// (the buffer's packets in <see cref="HandleReceived"/>, the end in <see cref="EndTransportAsync"/>) and it has no
    /// finally: what is kept across an await here is a field of the state machine every idle connection holds.
    /// </summary>
    private async Task ReadLoopAsync()
    {
        try
        {
            while (!IsClosing)
            {
                var result = await _transport.Input.ReadAsync(CancellationToken.None).ConfigureAwait(false);
                if (result.IsCanceled && (IsClosing || result.Buffer.IsEmpty))
                {
                    _transport.Input.AdvanceTo(result.Buffer.Start);
                    break;
                }
                var stop = HandleReceived(result.Buffer, result.IsCompleted);
                if (stop.IsCompletedSuccessfully ? stop.Result : await stop.ConfigureAwait(false)) break;
            }
        }
        catch (Exception ex)
        {
            ReportReadFailure(ex);
        }
        // Every exception was caught above, so this always runs.
        await EndAsync().ConfigureAwait(false);
    }

    void IReadCompletion.OnReadCompleted() => ReadUntilWaiting((ICallbackReader)_transport, resumed: true);

    /// <summary>
    /// The read loop over an <see cref="ICallbackReader"/>: reads and handles until a read must wait, then returns and is
    /// called again, by the reader, once it can go on (<paramref name="resumed"/>: that read's result is waiting).
    /// </summary>
    private void ReadUntilWaiting(ICallbackReader reader, bool resumed)
    {
        try
        {
            while (!IsClosing)
            {
                ReadResult result;
                if (resumed)
                {
                    resumed = false;
                    result = reader.GetCompletedRead();
                }
                else if (!reader.TryStartRead(out result, this))
                {
                    return;
                }
                if (result.IsCanceled && (IsClosing || result.Buffer.IsEmpty))
                {
                    reader.AdvanceTo(result.Buffer.Start, result.Buffer.Start);
                    break;
                }
                var stop = HandleReceived(result.Buffer, result.IsCompleted);
                if (!stop.IsCompletedSuccessfully)
                {
                    _ = ResumeAfterAsync(reader, stop);
                    return;
                }
                if (stop.Result) break;
            }
        }
        catch (Exception ex)
        {
            ReportReadFailure(ex);
        }
        _ = EndAsync();
    }

    /// <summary>Goes on reading once a packet's handling that had to be waited for (a password check) is done.</summary>
    private async Task ResumeAfterAsync(ICallbackReader reader, ValueTask<bool> handling)
    {
        bool stop;
        try
        {
            stop = await handling.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            ReportReadFailure(ex);
            stop = true;
        }
        if (stop) await EndAsync().ConfigureAwait(false);
        else ReadUntilWaiting(reader, resumed: false);
    }

    private void ReportReadFailure(Exception ex)
    {
        // The peer went away (the channel publishes the will), or something failed that the log must show.
        if (ex is IOException or OperationCanceledException or ObjectDisposedException
            or Microsoft.AspNetCore.Connections.ConnectionResetException) return;
        Log.LogError(ex, "Connection {Remote} failed", Info.RemoteEndPoint);
    }

    /// <summary>After the read loop, however it ended: the session detaches, then the transport ends.</summary>
    private Task EndAsync()
    {
        Close();
        try { Protocol.OnConnectionClosed(); }
        catch (Exception ex) { Log.LogError(ex, "Cleanup of {Remote} failed", Info.RemoteEndPoint); }
        return EndTransportAsync();
    }

    private enum Received
    {
        /// <summary>Every complete packet in the buffer was handled.</summary>
        Handled,
        /// <summary>A packet's handling must be waited for (a password check, a full session queue).</summary>
        Waiting,
        /// <summary>A protocol violation: the connection is closing and the input was advanced.</summary>
        Stop,
    }

    /// <summary>
    /// Handles the packets of one received buffer in order and advances the input past them. True when the read loop
    /// must stop. Completes synchronously unless a packet's handling has to be waited for.
    /// </summary>
    private ValueTask<bool> HandleReceived(ReadOnlySequence<byte> buffer, bool inputEnded)
    {
        return HandleUntilWaiting(ref buffer, out var waiting) switch
        {
            Received.Waiting => ContinueReceivedAsync(waiting, buffer, inputEnded),
            Received.Stop => new ValueTask<bool>(true),
            _ => new ValueTask<bool>(Advance(buffer, inputEnded)),
        };
    }

    /// <summary>The rest of <see cref="HandleReceived"/> once a packet's handling did not complete at once.</summary>
    private async ValueTask<bool> ContinueReceivedAsync(ValueTask waiting, ReadOnlySequence<byte> buffer, bool inputEnded)
    {
        // Nothing was received behind the packet being waited for (a CONNECT waiting for its session's commit, as a rule):
        // the input is advanced before the wait, so the transport's receive buffer goes back to its pool meanwhile. A
        // connect burst otherwise kept one per waiting connection, more than the pool holds, and each was allocated anew.
        bool? endedBeforeWait = buffer.IsEmpty ? Advance(buffer, inputEnded) : null;
        while (true)
        {
            _readPaused = true;
            try
            {
                await waiting.ConfigureAwait(false);
            }
            catch (MqttProtocolException ex)
            {
                if (endedBeforeWait is null) OnViolation(ex, buffer);
                else Protocol.OnProtocolViolation(ex);
                return true;
            }
            finally
            {
                // The keep-alive period starts again: whatever the client sent meanwhile waited, unread, in the socket.
                _readPaused = false;
                Protocol.NoteReceived();
            }
            if (endedBeforeWait is { } ended) return ended;
            var outcome = HandleUntilWaiting(ref buffer, out waiting);
            if (outcome == Received.Stop) return true;
            if (outcome == Received.Handled) return Advance(buffer, inputEnded);
        }
    }

    /// <summary>
    /// Decodes and handles packets from <paramref name="buffer"/>, synchronously, until one must be waited for. Writers
    /// started meanwhile run once, on this thread, when it returns (a <see cref="DeferredWrites"/> batch: per thread, so
    /// it is closed before any wait and opened again by the call that continues, on whichever thread that is).
    /// </summary>
    private Received HandleUntilWaiting(ref ReadOnlySequence<byte> buffer, out ValueTask waiting)
    {
        waiting = default;
        DeferredWrites.Begin();
        try
        {
            while (!IsClosing)
            {
                var before = buffer.Length;
                if (!PacketReader.TryRead(ref buffer, Protocol.DecodeVersion, Context.Options.MaxPacketSize, Context.Recycled.Packets,
                    Context.ConnectPackets, out var packet)) break;
                BrokerMetrics.Add(ref Context.Metrics.BytesReceived, before - buffer.Length);
                BrokerMetrics.Add(ref Context.Metrics.MessagesReceived);
                var handled = Protocol.HandleAsync(packet!);
                if (!handled.IsCompletedSuccessfully)
                {
                    waiting = handled;
                    return Received.Waiting;
                }
                handled.GetAwaiter().GetResult();
            }
            return Received.Handled;
        }
        catch (MqttProtocolException ex)
        {
            OnViolation(ex, buffer);
            return Received.Stop;
        }
        finally
        {
            DeferredWrites.End();
        }
    }

    private void OnViolation(MqttProtocolException ex, ReadOnlySequence<byte> buffer)
    {
        // Writers queued so far start first (the batch closes); the violation's DISCONNECT follows them.
        DeferredWrites.End();
        Protocol.OnProtocolViolation(ex);
        AdvanceInput(buffer.End, buffer.End);
    }

    /// <summary>Advances the input past the handled packets; true when the peer's input has ended (the loop stops).</summary>
    private bool Advance(ReadOnlySequence<byte> buffer, bool inputEnded)
    {
        if (_acknowledgeReceived)
        {
            _acknowledgeReceived = false;
            (_transport as IReceiveAcknowledgement)?.AcknowledgeReceivedNow();
        }
        if (inputEnded)
        {
            _peerInputEnded = true;
            AdvanceInput(buffer.End, buffer.End);
            return true;
        }
        AdvanceInput(buffer.Start, buffer.End);
        return false;
    }

    // A transport that reads through ICallbackReader (sockets) is read through it alone: it makes a PipeReader only when asked.
    private void AdvanceInput(SequencePosition consumed, SequencePosition examined)
    {
        if (_transport is ICallbackReader reader) reader.AdvanceTo(consumed, examined);
        else _transport.Input.AdvanceTo(consumed, examined);
    }

    private void CancelPendingRead()
    {
        if (_transport is ICallbackReader reader) reader.CancelPendingRead();
        else _transport.Input.CancelPendingRead();
    }

    /// <summary>
    /// After the read loop: lets the writer finish, lingers if asked, completes the transport. A method of its own so
    /// its awaits are not fields of the read loop's state machine, which every idle connection holds.
    /// </summary>
    private async Task EndTransportAsync()
    {
        try
        {
            // Close() completed the queue: a running writer sends what is queued and stops; none starts again. A peer that
            // stopped reading would keep it waiting (and this connection and its socket open) forever: after a grace
            // period its flush is cancelled, which stops it.
            var writerStopped = Outgoing.WhenWriterStopped();
            try
            {
                await writerStopped.WaitAsync(UnreadGrace).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                Log.LogInformation("Closing the connection of {ClientId} ({Remote}) without the {Bytes} bytes it has not read for {Grace} s",
                    Protocol.ClientId ?? "-", Info.RemoteEndPoint, Interlocked.Read(ref _queuedPublishBytes), UnreadGrace.TotalSeconds);
                Output.CancelPendingFlush();
                await writerStopped.ConfigureAwait(false);
            }
            if (_lingerRequested && !_peerInputEnded) await DrainInputAsync().ConfigureAwait(false);
            await Output.CompleteAsync().ConfigureAwait(false);
            if (_transport is ICallbackReader reader) reader.Complete();
            else await _transport.Input.CompleteAsync().ConfigureAwait(false);
        }
        finally
        {
            Broker.OnConnectionEnded(this);
        }
    }

    /// <summary>
    /// Closes after the queued packets (a DISCONNECT or refusing CONNACK) are written, then keeps reading for a moment:
    /// closing a socket with unread data makes the kernel send a reset, and a client still sending would get that
    /// reset before it reads the reason it was disconnected for [MQTT-4.13.1-1], [MQTT-4.13.2-1].
    /// </summary>
    public void CloseWithLinger()
    {
        _lingerRequested = true;
        Close();
    }

    /// <summary>Queues a packet for the writer. Returns false once the connection is closing.</summary>
    public bool Enqueue(MqttPacket packet) => Enqueue(packet, durable: null);

    /// <summary>
    /// Queues a packet that must not leave before <paramref name="durable"/> (a store submission) completes: the writer
    /// sends what precedes it, waits, then carries on in order. If the submission fails the packet is not sent and the
    /// connection closes (the client gets it again, from the session, when it reconnects).
    /// </summary>
    public bool Enqueue(MqttPacket packet, Task? durable) => Enqueue(packet, durable, onFailure: null);

    /// <summary>
    /// As <see cref="Enqueue(MqttPacket, Task?)"/>, but if the submission fails <paramref name="onFailure"/> (run on the
    /// writer with this connection's channel and <paramref name="packet"/>) says what to send instead; null from it
    /// closes the connection.
    /// </summary>
    public bool Enqueue(MqttPacket packet, Task? durable, Func<MqttChannel, MqttPacket, MqttPacket?>? onFailure)
    {
        var publish = packet as PublishPacket;
        if (publish is not null)
        {
            Interlocked.Add(ref _queuedPublishBytes, publish.Payload.Length);
            // Held (a recycled packet) until the writer has written it; taken before it is queued, as the writer may
            // write it at once.
            publish.AddSend();
        }
        var waits = durable is not null and not { IsCompletedSuccessfully: true };
        // A reply (not a delivery) that waits for a commit: the client's TCP acknowledgement goes out with the read's end.
        if (waits && publish is null) _acknowledgeReceived = true;
        var outcome = waits
            ? Outgoing.TryWrite(new Outbound(packet, durable, onFailure))
            : Outgoing.TryWrite(new Outbound(packet, null, null));
        if (outcome == QueueWrite.Refused) publish?.Release();
        if (outcome != QueueWrite.StartWriter) return outcome == QueueWrite.Queued;
        // Inside a read loop's batch the writer starts at the batch's end, on that thread (DeferredWrites).
        if (!DeferredWrites.TryDefer(this)) ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: true);
        return true;
    }

    /// <summary>
    /// Queues a QoS 0 PUBLISH unless the client is too slow to take what it already has queued: then it is dropped
    /// and counted, so a slow subscriber never costs unbounded memory.
    /// </summary>
    public bool EnqueueDroppable(PublishPacket publish)
    {
        if (Interlocked.Read(ref _queuedPublishBytes) > Context.Options.MaxQueuedBytes)
        {
            BrokerMetrics.Add(ref Context.Metrics.DroppedSlowConsumer);
            BrokerMetrics.Add(ref Context.Metrics.MessagesDropped);
            Context.Limits.Hit("MaxQueuedBytes (slow consumer)",
                $"client {Protocol.ClientId} has not taken its queued bytes; QoS 0 message on {publish.Topic} dropped");
            return false;
        }
        return Enqueue(publish);
    }

    /// <summary>
    /// Backpressure, asked by the router after it queued a PUBLISH here for another client's message: null while less
    /// than <c>BackpressureHighWaterBytes</c> of PUBLISH payload waits to be written (the usual case: one read), else a
    /// task the publisher waits on — its connection is not read meanwhile (QoS 0), or its acknowledgement is held
    /// (QoS 1/2) — which completes once less than half of that is left. A client that takes nothing for
    /// <c>BackpressureTimeoutMs</c> is treated as stalled: the wait ends and nobody waits for it again until it has drained.
    /// </summary>
    public Task? RoomForPublishers()
    {
        var options = Context.Options;
        var highWater = options.HighWaterBytes();
        if (Interlocked.Read(ref _queuedPublishBytes) <= highWater) return null;
        var signal = Volatile.Read(ref _room);
        if (signal is null)
        {
            var created = new RoomSignal(Context, Protocol.ClientId);
            signal = Interlocked.CompareExchange(ref _room, created, null) ?? created;
            if (signal == created) BrokerMetrics.Add(ref Context.Metrics.BackpressureEpisodes);
            else created.Release();
        }
        if (signal.Expired) return null;
        // The writer checks the signal after taking bytes off the count, and the signal was published before this read:
        // one of the two sees the other, so a queue drained meanwhile never leaves a publisher waiting for the timeout.
        if (Interlocked.Read(ref _queuedPublishBytes) <= highWater / 2 || IsClosing)
        {
            ReleaseRoom(signal);
            return null;
        }
        return signal.Task;
    }

    /// <summary>After a flush: releases waiting publishers once the queue is under the low-water mark (or the connection stops writing), else notes that the client is taking its messages.</summary>
    private void ReleaseRoomIfDrained(bool stopping)
    {
        if (Volatile.Read(ref _room) is not { } signal) return;
        if (stopping || Interlocked.Read(ref _queuedPublishBytes) <= Context.Options.HighWaterBytes() / 2) ReleaseRoom(signal);
        else signal.NoteProgress();
    }

    private void ReleaseRoom(RoomSignal signal)
    {
        if (Interlocked.CompareExchange(ref _room, null, signal) == signal) signal.Release();
    }

    /// <summary>Stops reading now; what is already queued is still written, then the connection closes.</summary>
    public void Close()
    {
        if (Interlocked.Exchange(ref _closing, (byte)1) != 0) return;
        Outgoing.Complete();
        CancelPendingRead();
        ReleaseRoomIfDrained(stopping: true);
    }

    /// <summary>The transport is gone: if nothing is left to read, wake the read loop so it ends.</summary>
    internal void AbortIfIdle() => CancelPendingRead();

    private async Task DrainInputAsync()
    {
        // Ends at the peer's FIN, after LingerTime or LingerBytes, or once the peer has sent nothing for LingerIdle.
        using var deadline = new CancellationTokenSource(LingerTime);
        var input = _transport.Input;
        long drained = 0;
        try
        {
            while (drained < LingerBytes)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
                idle.CancelAfter(LingerIdle);
                var result = await input.ReadAsync(idle.Token).ConfigureAwait(false);
                drained += result.Buffer.Length;
                input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) return;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException
            or Microsoft.AspNetCore.Connections.ConnectionResetException)
        {
            // Deadline reached, peer idle, or peer gone: either way we are done.
        }
    }

    void IThreadPoolWorkItem.Execute() => RunWriter();

    /// <summary>Runs the writer on this thread until it retires (nothing queued) or must wait (a slow peer, the store).</summary>
    internal void RunWriter() => _ = WriteAsync();

    /// <summary>
    /// The writer: sends what is queued, flushing in batches, and retires when the queue is empty. Only one runs at a
    /// time (<see cref="OutboundQueue.TryWrite"/> tells one producer to start it, <see cref="OutboundQueue.TryRetire"/>
    /// ends it after its last flush). It allocates nothing unless it has to wait.
    /// </summary>
    private async Task WriteAsync()
    {
        var output = Output;
        var stopped = true;
        try
        {
            do
            {
                var written = 0L;
                while (Outgoing.TryRead(out var item))
                {
                    if (item.Durable is { } durable)
                    {
                        if (!durable.IsCompleted)
                        {
                            // What precedes it goes out now; it waits for its store state (one group commit, usually).
                            BrokerMetrics.Add(ref Context.Metrics.BytesSent, written);
                            written = 0;
                            var flushed = await output.FlushAsync().ConfigureAwait(false);
                            if (flushed.IsCompleted || flushed.IsCanceled) return;
                            if (SubmissionWatch.IsSubmission(durable)) await new CommitWait(durable, _transport);
                            else await durable.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                        }
                        if (!durable.IsCompletedSuccessfully)
                        {
                            if (item.OnFailure?.Invoke(Protocol, item.Packet) is { } replacement)
                            {
                                written += PacketWriter.Write(output, replacement, Protocol.Version);
                                BrokerMetrics.Add(ref Context.Metrics.MessagesSent);
                                continue;
                            }
                            Log.LogError("Store unavailable; closing the connection of {ClientId}: the state of a packet could not be made durable",
                                Protocol.ClientId);
                            BrokerMetrics.Add(ref Context.Metrics.BytesSent, written);
                            await output.FlushAsync().ConfigureAwait(false);
                            return;
                        }
                    }
                    var packet = item.Packet;
                    var publish = packet as PublishPacket;
                    if (publish is not null)
                    {
                        Interlocked.Add(ref _queuedPublishBytes, -publish.Payload.Length);
                        Protocol.ApplyOutboundTopicAlias(publish);
                        BrokerMetrics.Add(ref Context.Metrics.PublishSent);
                    }
                    else if (packet is ConnAckPacket)
                    {
                        // Keep-alive counts from the CONNACK, not from the CONNECT: the client cannot act before it has
                        // its answer, and authenticating (a password hash, the store) may have taken much of a short period.
                        Protocol.RestartKeepAlive();
                    }
                    written += PacketWriter.Write(output, packet, Protocol.Version);
                    // Its bytes are in the output now: a recycled packet may go back to its pool (the last writer's release).
                    publish?.Release();
                    BrokerMetrics.Add(ref Context.Metrics.MessagesSent);
                    // Flush in batches: everything queued so far goes out in one write, bounded so memory stays small.
                    if (written >= 64 * 1024) break;
                }
                BrokerMetrics.Add(ref Context.Metrics.BytesSent, written);
                var flush = await output.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled) return;
                ReleaseRoomIfDrained(stopping: false);
            }
            while (!Outgoing.TryRetire());
            stopped = false;
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException
            or Microsoft.AspNetCore.Connections.ConnectionResetException)
        {
            // The peer is gone; nothing more can be written.
        }
        catch (Exception ex)
        {
            // Nobody awaits the writer: what it did not expect is logged here, and the connection closes.
            Log.LogError(ex, "Writer of {Remote} failed", Info.RemoteEndPoint);
        }
        finally
        {
            if (stopped)
            {
                // The peer is gone or a packet's store state failed: nothing more is sent. Output is completed by
                // RunAsync, after any linger.
                Close();
                Outgoing.StopWriter();
                ReleaseRoomIfDrained(stopping: true);
            }
        }
    }
}
