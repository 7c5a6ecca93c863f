using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Storage;
using Gatehouse.Testing;

namespace Gatehouse.Broker.Tests.InProcess;

/// <summary>
/// A new subscription is owed the retained messages that match it [MQTT-3.3.1-9]. For a persistent session, SUBACK
/// says the broker has taken both on: the subscription and those messages. A crash may stop the store after any of the
/// writes (the subscription, the message's queue entry); if the client got its SUBACK, the session it resumes after the
/// restart still gets the retained message.
/// </summary>
public sealed class RetainedOnSubscribeCrashTests
{
    [Theory]
    [InlineData(0, 0)]
    [InlineData(0, 1)]
    [InlineData(0, 2)]
    [InlineData(1, 0)]
    [InlineData(1, 1)]
    [InlineData(2, 0)]
    public async Task A_retained_message_an_acknowledged_subscription_is_owed_survives_the_crash(int committedBeforeHold, int heldThatSurvive)
    {
        var store = new PowerCutStore(new MemoryBrokerStore());
        var topic = UniqueNames.Topic("retained-cut");
        var session = new MqttProperties { SessionExpiryInterval = 600 };

        var before = await InProcessBroker.StartAsync(store: store);
        IReadOnlyList<string> held;
        MqttPacket? answer;
        try
        {
            await using (var publisher = await before.ConnectAsync("retained-pub"))
            {
                await publisher.PublishAsync(topic, "kept", QoS.AtLeastOnce, retain: true);
            }
            var subscriber = await before.ConnectAsync("retained-sub", properties: session);

            // The first writes of the SUBSCRIBE commit, the rest wait for the cut.
            store.Hold(letThrough: committedBeforeHold);
            await subscriber.SendAsync(new SubscribePacket
            {
                PacketId = 1, Subscriptions = [new TopicSubscription { TopicFilter = topic, MaximumQoS = QoS.AtLeastOnce }],
            });
            try
            {
                answer = await subscriber.ReceiveAsync(TimeSpan.FromSeconds(1));
            }
            catch (MqttTestException)
            {
                answer = null; // held back: the broker has not said it took the subscription on
            }
            // SUBACK comes first; the retained message follows it.
            if (answer is not null) Assert.IsType<SubAckPacket>(answer);
            // With every write committed, nothing may hold SUBACK back.
            if (committedBeforeHold == 2) Assert.NotNull(answer);
            await Task.Delay(200); // writes still on their way to the store
            held = store.Held;
            store.CutPower(heldThatSurvive);
        }
        finally
        {
            await before.DisposeAsync();
        }

        if (answer is null) return; // no SUBACK, no promise: the client subscribes again
        await using var after = await InProcessBroker.StartAsync(store: store.Disk);
        var (resumed, delivered) = await RecoveredSession.ResumeAndReceiveAsync(after.Port, "retained-sub", session,
            $"SUBACK received; {PowerCutStore.Describe(held, heldThatSurvive)} (after {committedBeforeHold} committed)");
        await using var resumedClient = resumed;
        Assert.Equal("kept", System.Text.Encoding.UTF8.GetString(delivered.Payload.Span));
        Assert.True(delivered.Retain, "a retained message sent because of a new subscription keeps RETAIN [MQTT-3.3.1-8]");
    }
}
