using System.Buffers;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;
using static Gatehouse.Protocol.Tests.Support.Wire;

namespace Gatehouse.Protocol.Tests;

/// <summary>
/// Topic Names decoded again from the per-thread cache (PublishCodec, TopicNameCache): the same string, no weaker
/// validation, and a packet encodes whatever its Topic is at the time.
/// </summary>
public class TopicNameCacheTests
{
    [Theory]
    [InlineData(ProtocolVersion.V311)]
    [InlineData(ProtocolVersion.V500)]
    public void A_repeated_topic_decodes_to_the_same_string_and_re_encodes_identically(ProtocolVersion version)
    {
        var topic = $"cache/{Guid.NewGuid():N}/ü";
        var bytes = Encode(new PublishPacket { Topic = topic, Payload = new byte[] { 1, 2, 3 } }, version);
        var decoded = Enumerable.Range(0, 4).Select(_ => Assert.IsType<PublishPacket>(Decode(bytes, version))).ToList();

        Assert.All(decoded, p => Assert.Equal(topic, p.Topic));
        // Admitted on the second sighting: from then on the one cached string.
        Assert.Same(decoded[2].Topic, decoded[3].Topic);
        Assert.All(decoded, p => Assert.Equal(ToHex(bytes), ToHex(Encode(p, version))));
    }

    [Fact]
    public void Invalid_utf8_topic_stays_malformed_however_often_it_is_seen()
    {
        // [MQTT-1.5.4-1] an encoded surrogate (ED A0 80), and [MQTT-1.5.4-2] U+0000.
        foreach (var topicHex in new[] { "0003 ED A0 80", "0003 61 00 62" })
        {
            for (var i = 0; i < 4; i++)
            {
                Assert.Equal(ReasonCode.MalformedPacket, DecodeFails(Frame(0x30, topicHex + "00"), ProtocolVersion.V500).ReasonCode);
                Assert.Equal(ReasonCode.MalformedPacket, DecodeFails(Frame(0x30, topicHex), ProtocolVersion.V311).ReasonCode);
            }
        }
    }

    [Fact]
    public void A_packet_whose_topic_is_replaced_encodes_the_new_topic()
    {
        // A writer replaces the topic by a Topic Alias (Topic = ""): the bytes of the decoded topic must not be used then.
        var bytes = Encode(new PublishPacket { Topic = "alias/me", Payload = new byte[] { 9 } }, ProtocolVersion.V500);
        Decode(bytes, ProtocolVersion.V500);
        var packet = Assert.IsType<PublishPacket>(Decode(bytes, ProtocolVersion.V500));
        packet.Topic = "";
        packet.Properties = new MqttProperties { TopicAlias = 1 };
        var reencoded = Assert.IsType<PublishPacket>(Decode(Encode(packet, ProtocolVersion.V500), ProtocolVersion.V500));
        Assert.Equal("", reencoded.Topic);
        Assert.Equal((ushort)1, reencoded.Properties?.TopicAlias);

        packet.Topic = "other/topic";
        Assert.Equal("other/topic", Assert.IsType<PublishPacket>(Decode(Encode(packet, ProtocolVersion.V500), ProtocolVersion.V500)).Topic);
    }

    [Fact]
    public void Decoding_a_publish_to_a_recent_topic_allocates_only_the_packet_and_payload()
    {
        var bytes = Encode(new PublishPacket { Topic = "sensors/1/temp", Payload = new byte[16] }, ProtocolVersion.V311);
        for (var i = 0; i < 2; i++) DecodeOnce(bytes); // warm up, and the topic admitted
        var before = GC.GetAllocatedBytesForCurrentThread();
        const int rounds = 100;
        for (var i = 0; i < rounds; i++) DecodeOnce(bytes);
        var perPacket = (GC.GetAllocatedBytesForCurrentThread() - before) / rounds;

        // PublishPacket (80 B) + 16-byte array (40 B); no string for the topic.
        Assert.InRange(perPacket, 1, 136);
    }

    private static void DecodeOnce(byte[] bytes)
    {
        var sequence = new ReadOnlySequence<byte>(bytes);
        if (!PacketReader.TryRead(ref sequence, ProtocolVersion.V311, uint.MaxValue, out _)) throw new InvalidOperationException();
    }
}
