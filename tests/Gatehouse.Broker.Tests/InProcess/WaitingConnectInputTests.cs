using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Storage;
using Gatehouse.Testing;

namespace Gatehouse.Broker.Tests.InProcess;

/// <summary>
/// A CONNECT for a persistent session is answered once the session is stored, so its handling waits for the store's
/// commit. Meanwhile the connection has nothing else to read; it consumes its input before the wait, so a transport can
/// give its receive buffer back instead of every connection in a connect burst holding one until its commit.
/// </summary>
public sealed class WaitingConnectInputTests
{
    private static readonly MqttProperties Persistent = new() { SessionExpiryInterval = 600 };

    [Fact]
    public async Task A_connect_waiting_for_its_session_to_be_stored_has_consumed_its_input_and_goes_on_after()
    {
        var store = new PowerCutStore(new MemoryBrokerStore());
        await using var broker = await InProcessBroker.StartAsync(store: store);
        RecordingPipeReader? input = null;
        broker.WrapInput = reader => input = new RecordingPipeReader(reader);
        var clientId = UniqueNames.ClientId("waiting-connect");

        store.Hold();
        await using var client = await MqttTestClient.OpenAsync(broker.Port, ProtocolVersion.V500, clientId);
        try
        {
            await client.SendAsync(Connect(clientId));
            await Eventually.Assert(() => store.Held.Contains("SaveSession"), "the session's write is held by the store");

            Assert.NotNull(input);
            Assert.False(input.HoldsUnconsumedInput, "the CONNECT waiting for its commit still holds the bytes it came in");
            await client.ExpectNoPacketAsync(); // CONNACK waits for the commit
        }
        finally
        {
            store.Release(); // also when failing: the broker's shutdown would wait for the held commit
        }
        Assert.Equal(ReasonCode.Success, (await client.ReceiveAsync<ConnAckPacket>()).ReasonCode);
        await client.SendAsync(new PingReqPacket());
        await client.ReceiveAsync<PingRespPacket>();
    }

    [Fact]
    public async Task A_packet_sent_right_behind_a_waiting_connect_is_handled_after_it()
    {
        var store = new PowerCutStore(new MemoryBrokerStore());
        await using var broker = await InProcessBroker.StartAsync(store: store);
        var clientId = UniqueNames.ClientId("connect-and-ping");

        store.Hold();
        await using var client = await MqttTestClient.OpenAsync(broker.Port, ProtocolVersion.V500, clientId);
        try
        {
            // One write: the two packets arrive together, so the PINGREQ is still buffered while the CONNECT waits.
            byte[] both = [.. MqttTestClient.Encode(Connect(clientId), ProtocolVersion.V500),
                .. MqttTestClient.Encode(new PingReqPacket(), ProtocolVersion.V500)];
            await client.SendAsync(both);
            await Eventually.Assert(() => store.Held.Contains("SaveSession"), "the session's write is held by the store");
            await client.ExpectNoPacketAsync(); // neither CONNACK nor PINGRESP before the commit
        }
        finally
        {
            store.Release();
        }
        Assert.Equal(ReasonCode.Success, (await client.ReceiveAsync<ConnAckPacket>()).ReasonCode);
        await client.ReceiveAsync<PingRespPacket>();
    }

    private static ConnectPacket Connect(string clientId) => new()
    {
        ProtocolVersion = ProtocolVersion.V500,
        ClientId = clientId,
        CleanStart = false,
        KeepAliveSeconds = 0,
        Properties = Persistent,
    };
}
