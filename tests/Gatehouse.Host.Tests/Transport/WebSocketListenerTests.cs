using System.Net;
using System.Net.WebSockets;
using Gatehouse.Host.Tests.Infrastructure;
using Gatehouse.Protocol;
using Gatehouse.Testing;

namespace Gatehouse.Host.Tests.Transport;

public sealed class WebSocketServer : ServerFixture
{
    protected override ServerProcessOptions Options => new() { WebSocket = true, Http = true };
}

/// <summary>MQTT over WebSocket at /mqtt against the real server, with a real ClientWebSocket.</summary>
public sealed class WebSocketListenerTests(WebSocketServer fixture) : IClassFixture<WebSocketServer>
{
    private Uri MqttUri => new($"ws://127.0.0.1:{fixture.Server.WebSocketPort}/mqtt");

    private async Task<WebSocketMqttClient> ConnectAsync(params string[] subProtocols)
    {
        var socket = new ClientWebSocket();
        foreach (var protocol in subProtocols) socket.Options.AddSubProtocol(protocol);
        using var cts = new CancellationTokenSource(MqttWire.Timeout);
        await socket.ConnectAsync(MqttUri, cts.Token);
        return new WebSocketMqttClient(socket);
    }

    [Fact]
    public async Task Negotiates_the_mqtt_subprotocol()
    {
        using var client = await ConnectAsync("mqtt");
        Assert.Equal("mqtt", client.Socket.SubProtocol);
    }

    [Fact]
    public async Task Prefers_mqtt_when_the_client_also_offers_mqttv3_1()
    {
        using var client = await ConnectAsync("mqttv3.1", "mqtt");
        Assert.Equal("mqtt", client.Socket.SubProtocol);
    }

    [Fact]
    public async Task Accepts_the_old_mqttv3_1_subprotocol()
    {
        using var client = await ConnectAsync("mqttv3.1");
        Assert.Equal("mqttv3.1", client.Socket.SubProtocol);
    }

    [Fact]
    public async Task Accepts_a_client_that_offers_no_subprotocol()
    {
        using var client = await ConnectAsync();
        Assert.Null(client.Socket.SubProtocol);
        await client.SendFrameAsync(MqttWire.Connect(ProtocolVersion.V311, "host-ws-nosub"));
        MqttWire.AssertSuccessfulConnAck(await client.ReceivePacketAsync());
    }

    [Fact]
    public async Task A_text_frame_is_answered_with_close_1003()
    {
        using var client = await ConnectAsync("mqtt");

        await client.SendFrameAsync([0x10, 0x00], WebSocketMessageType.Text);
        var close = await client.ReceiveCloseAsync();

        Assert.Equal(WebSocketCloseStatus.InvalidMessageType, close.CloseStatus);
    }

    [Theory]
    [InlineData(ProtocolVersion.V311)]
    [InlineData(ProtocolVersion.V500)]
    public async Task A_packet_split_over_several_frames_is_one_packet(ProtocolVersion version)
    {
        using var client = await ConnectAsync("mqtt");
        var connect = MqttWire.Connect(version, $"host-ws-split-{version}");

        await client.SendSplitAsync(connect, 1, 2, 7, connect.Length - 1);

        MqttWire.AssertSuccessfulConnAck(await client.ReceivePacketAsync());
        await client.SendSplitAsync(MqttWire.PingReq, 1);
        MqttWire.AssertPingResp(await client.ReceivePacketAsync());
    }

    [Fact]
    public async Task Two_packets_in_one_frame_are_two_packets()
    {
        using var client = await ConnectAsync("mqtt");

        await client.SendFrameAsync([.. MqttWire.Connect(ProtocolVersion.V500, "host-ws-two"), .. MqttWire.PingReq]);

        MqttWire.AssertSuccessfulConnAck(await client.ReceivePacketAsync());
        MqttWire.AssertPingResp(await client.ReceivePacketAsync());
    }

    [Fact]
    public async Task A_plain_http_request_to_the_mqtt_path_is_refused()
    {
        using var http = new HttpClient { Timeout = MqttWire.Timeout };
        using var response = await http.GetAsync(MqttUri);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task Other_paths_on_the_websocket_port_are_not_found()
    {
        using var http = new HttpClient { Timeout = MqttWire.Timeout };
        using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{fixture.Server.WebSocketPort}/healthz"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task The_mqtt_path_is_not_served_on_the_http_port()
    {
        var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("mqtt");
        using var cts = new CancellationTokenSource(MqttWire.Timeout);
        await Assert.ThrowsAsync<WebSocketException>(
            () => socket.ConnectAsync(new Uri($"ws://127.0.0.1:{fixture.Server.HttpPort}/mqtt"), cts.Token));
        socket.Dispose();
    }
}
