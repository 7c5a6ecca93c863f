using Gatehouse.Interop.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Gatehouse.Interop.Tests;

/// <summary>
/// MQTT.js 5 (npm package mqtt, installed in clients/ by tests/install-test-deps.sh) over TCP and WebSocket, and
/// TLS / WebSocket over TLS trusting the server's self-signed test certificate.
/// The scenarios live in clients/js/mqtt_client.mjs; each prints a JSON line per check.
/// </summary>
public sealed class MqttJsClientTests(InteropServer server, ITestOutputHelper output)
    : InteropTest(server, output), IClassFixture<InteropServer>
{
    public static TheoryData<string> Transports() => new("tcp", "ws");

    [Theory]
    [InlineData("tcp", "5")]
    [InlineData("ws", "5")]
    [InlineData("tls", "5")]
    [InlineData("wss", "5")]
    [InlineData("tcp", "4")]
    [InlineData("ws", "4")]
    public Task QoS012_InOrder_AndDowngradedToTheSubscriptionMaximum(string transport, string protocol) =>
        RunAsync("qos", transport, protocol,
            "suback-granted-qos2", "publisher-acks", "qos0-delivered-in-order", "qos1-delivered-in-order",
            "qos2-delivered-in-order", "qos0-granted", "qos1-granted", "qos2-granted", "qos-downgraded-to-subscription");

    [Theory]
    [MemberData(nameof(Transports))]
    public Task SharedSubscription_EveryMessageToExactlyOneMember_Balanced(string transport) =>
        RunAsync("shared", transport, "5",
            "shared-subscriptions-available", "group-exactly-once", "group-balanced", "plain-subscriber-gets-all",
            "shared-deliveries-not-retain-flagged");

    [Fact]
    public Task SharedSubscription_UnacknowledgedMessagesOfAMemberThatLeaves_GoToAnotherMember() =>
        RunAsync("shared-redelivery", "tcp", "5", "unacked-redelivered-to-other-member", "every-message-delivered");

    [Theory]
    [MemberData(nameof(Transports))]
    public Task TopicAliases_FromClient_AreResolvedByTheServer(string transport) =>
        RunAsync("alias-in", transport, "5",
            "server-topic-alias-maximum", "client-sent-alias-only-publishes", "topics-resolved", "no-alias-leaks-to-subscriber");

    [Theory]
    [MemberData(nameof(Transports))]
    public Task TopicAliases_ToClient_AreAssignedOnlyWhenTheClientAllowsThem(string transport) =>
        RunAsync("alias-out", transport, "5",
            "server-assigned-aliases", "aliases-within-maximum", "aliased-topics-resolved", "no-aliases-when-not-allowed",
            "no-client-errors");

    [Theory]
    [InlineData("tcp", "4")]
    [InlineData("tcp", "5")]
    [InlineData("wss", "5")]
    public Task UserNameAndPassword_RightOnesConnect_AWrongPasswordIsRefused(string transport, string protocol) =>
        RunAsync("auth", transport, protocol, ["--username", InteropServer.UserName, "--password", InteropServer.Password],
            "right-password-accepted", "authenticated-round-trip", "wrong-password-refused");

    [Theory]
    [InlineData("tcp", "4")]
    [InlineData("tcp", "5")]
    [InlineData("wss", "5")]
    public Task JwtAsPassword_AValidTokenConnects_ExpiredAndForgedTokensAreRefused(string transport, string protocol) =>
        RunAsync("jwt", transport, protocol, ["--jwt-secret", InteropServer.JwtSecret],
            "valid-token-accepted", "token-round-trip", "expired-token-refused", "wrong-signature-refused");

    private Task RunAsync(string scenario, string transport, string protocol, params string[] expectedChecks) =>
        RunAsync(scenario, transport, protocol, [], expectedChecks);

    private async Task RunAsync(string scenario, string transport, string protocol, IEnumerable<string> extraArguments,
        params string[] expectedChecks)
    {
        var url = transport switch
        {
            "ws" => $"ws://{Server.Host}:{Server.WsPort}/mqtt",
            "tls" => $"mqtts://{Server.Host}:{Server.TlsPort}",
            "wss" => $"wss://{Server.Host}:{Server.WssPort}/mqtt",
            _ => $"mqtt://{Server.Host}:{Server.MqttPort}",
        };
        var client = Start($"mqtt.js {scenario} ({transport}, v{protocol})", "node",
        [
            Path.Combine(ClientsDirectory, "js", "mqtt_client.mjs"), scenario,
            "--url", url, "--protocol", protocol, "--prefix", Prefix, "--cafile", Server.CaFile,
            .. extraArguments,
        ]);
        await RunScenarioAsync(client, expectedChecks);
    }
}
