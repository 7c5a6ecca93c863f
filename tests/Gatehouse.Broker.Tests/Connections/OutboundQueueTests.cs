using Gatehouse.Broker.Connections;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Broker.Tests.Connections;

/// <summary>
/// The writer's queue keeps its first packet in a field and rents a ring buffer only when two are queued at once: order
/// must survive that move, the ring's wrap and growth, and its return to the pool when drained. It also decides when a
/// writer runs: one
/// producer starts it when the queue leaves idle, the writer retires only when the queue is empty.
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
            // Bursts of up to 150 (past the first rented array's 16) alternate with partial and complete drains.
            for (var i = random.Next(0, 150); i > 0; i--)
            {
                var id = (ushort)next++;
                Assert.NotEqual(QueueWrite.Refused, queue.TryWrite(Item(id)));
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
    public void Hundreds_of_queues_growing_their_rings_at_once_reuse_them_in_the_next_round()
    {
        // A fan-out to 500 subscribers whose writers are behind: each queue rents a ring and grows it (16 to 128 entries)
        // at the same time, far more rings than the shared array pool keeps per size (32 per core). The first round fills
        // the rings' own pool; the next ones take them from it. Other tests running meanwhile may hold a few rings of the
        // same pool, so the bound is a small fraction of a round's rings, not zero; from the shared pool every round
        // allocated about as much as the first.
        var queues = Enumerable.Range(0, 500).Select(_ => new OutboundQueue()).ToArray();
        var packet = Item(1);
        var start = GC.GetAllocatedBytesForCurrentThread();
        Round(queues, packet);
        var first = GC.GetAllocatedBytesForCurrentThread() - start;
        start = GC.GetAllocatedBytesForCurrentThread();
        for (var round = 0; round < 3; round++) Round(queues, packet);
        var later = GC.GetAllocatedBytesForCurrentThread() - start;
        Assert.True(later < first / 20, $"round one allocated {first:N0} B, the next three {later:N0} B");

        static void Round(OutboundQueue[] queues, Outbound packet)
        {
            foreach (var queue in queues)
            {
                for (var i = 0; i < 100; i++) queue.TryWrite(packet);
            }
            foreach (var queue in queues)
            {
                while (queue.TryRead(out _))
                {
                }
                if (!queue.TryRetire()) Assert.Fail("the queue was not empty");
            }
        }
    }

    [Fact]
    public void Only_the_packet_that_finds_the_queue_idle_starts_the_writer_and_the_writer_retires_only_when_it_is_empty()
    {
        var queue = new OutboundQueue();
        Assert.Equal(QueueWrite.StartWriter, queue.TryWrite(Item(1)));
        Assert.Equal(QueueWrite.Queued, queue.TryWrite(Item(2)));
        Assert.True(queue.TryRead(out _));
        Assert.False(queue.TryRetire()); // packet 2 is still there
        Assert.True(queue.TryRead(out var second));
        Assert.Equal(2, IdOf(second));
        Assert.True(queue.TryRetire());
        Assert.Equal(QueueWrite.StartWriter, queue.TryWrite(Item(3)));

        // A writer that stops early drops what is queued; the next packet starts a new one.
        Assert.Equal(QueueWrite.Queued, queue.TryWrite(Item(4)));
        queue.StopWriter();
        Assert.False(queue.TryRead(out _));
        Assert.Equal(QueueWrite.StartWriter, queue.TryWrite(Item(5)));
    }

    [Fact]
    public async Task A_completed_queue_refuses_packets_and_reports_when_its_writer_has_sent_what_it_holds()
    {
        var idle = new OutboundQueue();
        Assert.True(idle.Complete());
        Assert.True(idle.WhenWriterStopped().IsCompleted);

        var queue = new OutboundQueue();
        Assert.Equal(QueueWrite.StartWriter, queue.TryWrite(Item(1)));
        Assert.Equal(QueueWrite.Queued, queue.TryWrite(Item(2)));
        Assert.True(queue.Complete());
        Assert.False(queue.Complete());
        Assert.Equal(QueueWrite.Refused, queue.TryWrite(Item(3)));

        var stopped = queue.WhenWriterStopped();
        Assert.False(stopped.IsCompleted);
        Assert.True(queue.TryRead(out var first));
        Assert.True(queue.TryRead(out var second));
        Assert.Equal([1, 2], [IdOf(first), IdOf(second)]);
        Assert.False(stopped.IsCompleted);
        Assert.True(queue.TryRetire());
        await stopped.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Concurrent_producers_never_run_two_writers_and_lose_nothing()
    {
        const int Producers = 4;
        const int PerProducer = 50_000;
        var queue = new OutboundQueue();
        var running = 0;
        var overlaps = 0;
        var writers = 0;
        var received = new List<int>[Producers];
        for (var p = 0; p < Producers; p++) received[p] = [];

        // The writer as ClientConnection runs it: drain, then retire unless something arrived meanwhile.
        void Write()
        {
            if (Interlocked.Increment(ref running) != 1) Interlocked.Increment(ref overlaps);
            Interlocked.Increment(ref writers);
            do
            {
                while (queue.TryRead(out var item))
                {
                    var id = IdOf(item);
                    received[id % Producers].Add(id / Producers);
                }
                Interlocked.Decrement(ref running);
                if (queue.TryRetire()) return;
                if (Interlocked.Increment(ref running) != 1) Interlocked.Increment(ref overlaps);
            }
            while (true);
        }

        var tasks = Enumerable.Range(0, Producers).Select(p => Task.Run(() =>
        {
            for (var i = 0; i < PerProducer; i++)
            {
                // Packet ids encode producer and sequence; the id space wraps, so the sequence is kept small per round.
                var id = (i % (ushort.MaxValue / Producers)) * Producers + p;
                if (queue.TryWrite(Item(id)) == QueueWrite.StartWriter) Write();
            }
        })).ToArray();
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(0, overlaps);
        Assert.True(writers > 1, "the writer should have retired and been restarted at least once");
        Assert.False(queue.TryRead(out _));
        for (var p = 0; p < Producers; p++)
        {
            Assert.Equal(PerProducer, received[p].Count);
            for (var i = 0; i < PerProducer; i++) Assert.Equal(i % (ushort.MaxValue / Producers), received[p][i]);
        }
    }
}
