using System.Globalization;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.BlackBox;

/// <summary>
/// A broker with a few clients handles their packets in the order they arrive, as a single-threaded broker does: an
/// UNSUBSCRIBE sent before another client's PUBLISH takes effect before it. MQTT orders packets only within a connection,
/// but clients and conformance suites (Paho's <c>test_unsubscribe</c>) count on this; with the connections on different
/// I/O threads, the publication could be routed through the subscription being removed (ReadinessLoop.FirstLoopShare).
/// </summary>
public sealed class ArrivalOrderTests(ITestOutputHelper output) : BlackBoxTest(null, output)
{
    private const int Rounds = 400;

    [Fact]
    public async Task A_publication_sent_after_another_clients_UNSUBSCRIBE_does_not_reach_that_client()
    {
        // A server of its own, so these are its only connections.
        var server = await StartServerAsync();
        var topic = NewTopic("order");
        var subscriber = await ConnectAsync(ProtocolVersion.V500, server: server);
        var publisher = await ConnectAsync(ProtocolVersion.V500, server: server);
        var overtaken = new List<int>();
        for (var round = 0; round < Rounds; round++)
        {
            await subscriber.SubscribeGrantedAsync(topic);
            // Sent back to back, without waiting for the UNSUBACK (as the Paho suite does).
            await subscriber.SendAsync(new UnsubscribePacket { PacketId = subscriber.NextPacketId(), TopicFilters = [topic] });
            await publisher.SendAsync(new PublishPacket { Topic = topic, Payload = Bytes(round.ToString(CultureInfo.InvariantCulture)) });
            // Once the publisher's PINGRESP is back its PUBLISH has been routed; the subscriber's PINGRESP then comes after
            // anything that PUBLISH queued for it, before or after the UNSUBACK.
            await publisher.PingAsync();
            await subscriber.SendAsync(new PingReqPacket());
            MqttPacket packet;
            while ((packet = await subscriber.ReceiveAsync()) is not PingRespPacket)
            {
                if (packet is PublishPacket) overtaken.Add(round);
            }
        }
        Assert.True(overtaken.Count == 0,
            $"in {overtaken.Count} of {Rounds} rounds the PUBLISH overtook the UNSUBSCRIBE sent before it (rounds {string.Join(", ", overtaken.Take(20))})");
    }
}
