using System.Buffers;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;
using Gatehouse.Protocol.Tests.Support;

namespace Gatehouse.Protocol.Tests;

/// <summary>
/// The recycling of decoded QoS 0 PUBLISH packets (<see cref="PublishPacketPool"/>): which packets come from the pool,
/// that a packet goes back only after its last holder released it and only when allowed, and that a reused packet
/// carries nothing of its last use.
/// </summary>
public class PublishPacketPoolTests
{
    [Theory]
    [InlineData(ProtocolVersion.V311)]
    [InlineData(ProtocolVersion.V500)]
    public void A_QoS0_publish_comes_from_the_pool_with_its_own_copy_of_the_payload(ProtocolVersion version)
    {
        var pool = new PublishPacketPool();
        var bytes = Wire.Encode(new PublishPacket { Topic = "a/b", Payload = "hello"u8.ToArray() }, version);

        var packet = Decode(bytes, version, pool);

        Assert.True(packet.IsPooled);
        Assert.Equal("a/b", packet.Topic);
        Assert.Equal("hello"u8.ToArray(), packet.Payload.ToArray());
        bytes.AsSpan().Clear();
        Assert.Equal("hello"u8.ToArray(), packet.Payload.ToArray());
    }

    [Theory]
    [InlineData(QoS.AtLeastOnce)]
    [InlineData(QoS.ExactlyOnce)]
    public void QoS1_and_QoS2_publishes_and_decoding_without_a_pool_are_not_pooled(QoS qos)
    {
        var pool = new PublishPacketPool();
        var acknowledged = Wire.Encode(new PublishPacket { Topic = "a", Payload = new byte[3], QoS = qos, PacketId = 7 }, ProtocolVersion.V500);
        var qos0 = Wire.Encode(new PublishPacket { Topic = "a", Payload = new byte[3] }, ProtocolVersion.V500);

        Assert.False(Decode(acknowledged, ProtocolVersion.V500, pool).IsPooled);
        Assert.False(Decode(qos0, ProtocolVersion.V500, pool: null).IsPooled);
    }

    [Fact]
    public void A_packet_goes_back_only_after_its_last_holder_released_it()
    {
        var pool = new PublishPacketPool();
        var bytes = Wire.Encode(new PublishPacket { Topic = "t", Payload = new byte[] { 1, 2, 3 } }, ProtocolVersion.V311);
        var packet = Decode(bytes, ProtocolVersion.V311, pool);
        packet.AddSend();
        packet.AddSend();
        Assert.Equal(2, packet.Sends);
        packet.AllowRecycling();

        packet.Release(); // the decoder's owner
        packet.Release(); // one writer
        Assert.NotSame(packet, Decode(bytes, ProtocolVersion.V311, pool));

        packet.Release(); // the last writer
        Assert.Same(packet, Decode(bytes, ProtocolVersion.V311, pool));
    }

    [Fact]
    public void A_packet_never_allowed_back_is_not_reused_however_often_released()
    {
        var pool = new PublishPacketPool();
        var bytes = Wire.Encode(new PublishPacket { Topic = "t", Payload = new byte[] { 1, 2, 3 } }, ProtocolVersion.V311);
        var kept = Decode(bytes, ProtocolVersion.V311, pool);
        kept.AddSend();

        kept.Release();
        kept.Release();

        var next = Decode(bytes, ProtocolVersion.V311, pool);
        Assert.NotSame(kept, next);
        Assert.Equal(new byte[] { 1, 2, 3 }, kept.Payload.ToArray());
    }

    [Theory]
    [InlineData(5)]
    [InlineData(200)]
    [InlineData(5000)]
    public void A_reused_packet_carries_only_the_new_publish(int payloadLength)
    {
        var pool = new PublishPacketPool();
        var first = new PublishPacket
        {
            Topic = "first/topic",
            Payload = Enumerable.Repeat((byte)0xAA, 700).ToArray(),
            Retain = true,
            Dup = false,
            Properties = new MqttProperties { ContentType = "text/plain", UserProperties = [new UserProperty("k", "v")] },
        };
        var packet = Decode(Wire.Encode(first, ProtocolVersion.V500), ProtocolVersion.V500, pool);
        packet.AllowRecycling();
        packet.Release();

        var payload = Enumerable.Range(0, payloadLength).Select(i => (byte)i).ToArray();
        var second = Decode(Wire.Encode(new PublishPacket { Topic = "second", Payload = payload }, ProtocolVersion.V500), ProtocolVersion.V500, pool);

        Assert.Same(packet, second);
        Assert.Equal("second", second.Topic);
        Assert.Equal(payload, second.Payload.ToArray());
        Assert.False(second.Retain);
        Assert.Null(second.Properties);
        Assert.Equal(Wire.Encode(new PublishPacket { Topic = "second", Payload = payload }, ProtocolVersion.V500), Wire.Encode(second, ProtocolVersion.V500));
    }

    [Fact]
    public void Decoding_into_a_reused_packet_allocates_nothing()
    {
        var pool = new PublishPacketPool();
        var bytes = Wire.Encode(new PublishPacket { Topic = "sensors/1/temp", Payload = new byte[64] }, ProtocolVersion.V311);
        for (var i = 0; i < 3; i++) Recycle(Decode(bytes, ProtocolVersion.V311, pool)); // warm up, and the topic cache

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++) Recycle(Decode(bytes, ProtocolVersion.V311, pool));

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private static void Recycle(PublishPacket packet)
    {
        packet.AllowRecycling();
        packet.Release();
    }

    private static PublishPacket Decode(byte[] bytes, ProtocolVersion version, PublishPacketPool? pool)
    {
        var sequence = new ReadOnlySequence<byte>(bytes);
        Assert.True(PacketReader.TryRead(ref sequence, version, uint.MaxValue, pool, out var packet));
        return Assert.IsType<PublishPacket>(packet);
    }
}
