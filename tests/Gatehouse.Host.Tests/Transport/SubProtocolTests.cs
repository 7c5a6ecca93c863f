using Gatehouse.Transport.WebSockets;

namespace Gatehouse.Host.Tests.Transport;

public sealed class SubProtocolTests
{
    [Theory]
    [InlineData(new[] { "mqtt" }, "mqtt")]
    [InlineData(new[] { "mqttv3.1" }, "mqttv3.1")]
    [InlineData(new[] { "mqttv3.1", "mqtt" }, "mqtt")]
    [InlineData(new[] { "MQTT" }, "MQTT")]
    [InlineData(new[] { "wamp", "mqtt" }, "mqtt")]
    [InlineData(new[] { "wamp" }, null)]
    [InlineData(new string[0], null)]
    public void Picks_mqtt_then_mqttv3_1_as_the_client_spelled_it(string[] offered, string? expected)
        => Assert.Equal(expected, MqttWebSocketEndpoint.SelectSubProtocol(offered));
}
