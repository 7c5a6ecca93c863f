using Gatehouse.Broker.Connections;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Broker.Tests.Connections;

/// <summary>
/// The writer's queue keeps its first packet in a field and creates a queue only when two are queued at once: order
/// must survive that move, growth and the release of a large drained queue.
/// </summary>
public sealed class OutboundQueueTests
{
    private static Outbound Item(int id) => new(new PubAckPacket { PacketId = (ushort)id }, null, null);

    private static int IdOf(Outbound item) => ((PubAckPacket)item.Packet).PacketId;

    [Fact]
    public void Packets_leave_in_the_order_they_were_queued_whatever_the_mix_of_writes_and_reads()
    {
        var queue = new OutboundQueue();
        var expected = new Queue<int>();
        var random = new Random(7);
        var next = 0;
        for (var round = 0; round < 2_000; round++)
        {
            // Bursts of up to 150 (past the retained capacity) alternate with partial and complete drains.
            for (var i = random.Next(0, 150); i > 0; i--)
            {
                var id = (ushort)next++;
                Assert.True(queue.TryWrite(Item(id)));
                expected.Enqueue(id);
            }
            var reads = random.Next(3) == 0 ? int.MaxValue : random.Next(0, 100);
            for (var i = 0; i < reads && expected.Count > 0; i++)
            {
                Assert.True(queue.TryRead(out var item));
                Assert.Equal(expected.Dequeue(), IdOf(item));
            }
        }
        while (expected.Count > 0)
        {
            Assert.True(queue.TryRead(out var item));
            Assert.Equal(expected.Dequeue(), IdOf(item));
        }
        Assert.False(queue.TryRead(out _));
    }

    [Fact]
    public async Task A_completed_queue_refuses_packets_but_hands_out_what_it_holds()
    {
        var queue = new OutboundQueue();
        Assert.True(queue.TryWrite(Item(1)));
        Assert.True(queue.TryWrite(Item(2)));
        Assert.True(queue.Complete());
        Assert.False(queue.Complete());
        Assert.False(queue.TryWrite(Item(3)));

        Assert.True(await queue.WaitToReadAsync());
        Assert.True(queue.TryRead(out var first));
        Assert.True(queue.TryRead(out var second));
        Assert.Equal([1, 2], [IdOf(first), IdOf(second)]);
        Assert.False(await queue.WaitToReadAsync());
    }

    [Fact]
    public async Task A_waiting_reader_is_woken_by_the_next_packet_and_clear_drops_what_is_queued()
    {
        var queue = new OutboundQueue();
        var wait = queue.WaitToReadAsync();
        Assert.False(wait.IsCompleted);
        Assert.True(queue.TryWrite(Item(5)));
        Assert.True(await wait);
        Assert.True(queue.TryRead(out var item));
        Assert.Equal(5, IdOf(item));

        Assert.True(queue.TryWrite(Item(6)));
        Assert.True(queue.TryWrite(Item(7)));
        queue.Clear();
        Assert.False(queue.TryRead(out _));
        Assert.True(queue.TryWrite(Item(8)));
        Assert.True(queue.TryRead(out item));
        Assert.Equal(8, IdOf(item));
    }
}
