using System.Buffers.Binary;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.BlackBox;

/// <summary>
/// The broker-wide bound on queueing (Broker:HeapLimitBytes): past it no message is queued for any session, a 5.0
/// publisher is told (0x97), every message acknowledged with success still arrives, and queueing resumes once the
/// queues have drained.
/// </summary>
public sealed class HeapLimitTests(ITestOutputHelper output) : BlackBoxTest(null, output)
{
    private const int PayloadSize = 64 * 1024;

    [Fact]
    public async Task PastTheHeapLimit_NothingMoreIsQueued_ThePublisherIsTold_AndWhatWasAcceptedArrives()
    {
        // 96 MiB of heap in all, the per-session limits out of the way: only the broker-wide bound can refuse.
        var server = await StartServerAsync("--Broker:HeapLimitBytes=100663296", "--Broker:MaxQueuedBytes=8000000000");
        var topic = NewTopic();
        var id = NewClientId("offline");
        var subscriber = await ConnectPersistentAsync(ProtocolVersion.V500, id, server: server);
        await subscriber.SubscribeGrantedAsync(topic, QoS.AtLeastOnce);
        await subscriber.DisconnectAsync();

        // At most 6,000 messages of 64 KiB (375 MiB): far past the limit unless nothing bounds the queue.
        var publisher = await ConnectAsync(ProtocolVersion.V500, server: server);
        var accepted = new List<int>();
        var refused = 0;
        const int window = 16;
        for (var sent = 0; sent < 6_000 && refused == 0; sent += window)
        {
            for (var i = sent; i < sent + window; i++) await publisher.SendAsync(Numbered(topic, i, (ushort)(i % window + 1)));
            for (var i = sent; i < sent + window; i++)
            {
                var ack = await publisher.ReceiveAsync<PubAckPacket>();
                Assert.Equal((ushort)(i % window + 1), ack.PacketId);
                if (ack.ReasonCode == ReasonCode.Success) accepted.Add(i);
                else
                {
                    Assert.Equal(ReasonCode.QuotaExceeded, ack.ReasonCode);
                    refused++;
                }
            }
        }
        Assert.True(refused > 0, $"no message refused after {accepted.Count} of 64 KiB were queued");
        // Some 40 MiB or more of payload fits, and never more than the limit holds: what is queued between two of
        // housekeeping's samples counts at once (sampled every 250 ms alone, it passed the limit by up to 130 MiB here).
        Output.WriteLine($"accepted {accepted.Count} messages of 64 KiB under a 96 MiB heap limit");
        Assert.InRange(accepted.Count, 600, 96 * 1024 * 1024 / PayloadSize);
        Assert.Contains("Limit HeapLimitBytes hit", server.Output, StringComparison.Ordinal);

        // Every message acknowledged with success is delivered, in order.
        var resumed = await ConnectPersistentAsync(ProtocolVersion.V500, id, server: server);
        var received = new List<int>();
        while (received.Count < accepted.Count)
        {
            var publish = await resumed.ReceivePublishAsync(TimeSpan.FromSeconds(30));
            received.Add(BinaryPrimitives.ReadInt32BigEndian(publish.Payload.Span));
            await resumed.SendAsync(new PubAckPacket { PacketId = publish.PacketId });
        }
        Assert.Equal(accepted, received);
        await resumed.DisconnectAsync();

        // Drained: messages are queued again once a collection has found the heap under the limit.
        var next = 1_000_000;
        await Eventually.Assert(async () =>
        {
            await publisher.SendAsync(Numbered(topic, next++, 1));
            return (await publisher.ReceiveAsync<PubAckPacket>()).ReasonCode == ReasonCode.Success;
        }, "a message is queued again after the queue drained", TimeSpan.FromSeconds(60));
    }

    private static PublishPacket Numbered(string topic, int number, ushort packetId)
    {
        var payload = new byte[PayloadSize];
        BinaryPrimitives.WriteInt32BigEndian(payload, number);
        return new PublishPacket { Topic = topic, Payload = payload, QoS = QoS.AtLeastOnce, PacketId = packetId };
    }
}
