using Gatehouse.Interop.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Gatehouse.Interop.Tests;

/// <summary>
/// Eclipse paho-mqtt for Python (Debian's python3-paho-mqtt, run by /usr/bin/python3) over TCP, WebSocket (/mqtt),
/// TLS and WebSocket over TLS, trusting the server's self-signed test certificate. The scenarios live in clients/python/paho_client.py; each prints a JSON line per check.
/// </summary>
public sealed class PahoClientTests(InteropServer server, ITestOutputHelper output)
    : InteropTest(server, output), IClassFixture<InteropServer>
{
    private const string Python = "/usr/bin/python3";

    public static TheoryData<string, string> TransportsAndVersions()
    {
        var data = new TheoryData<string, string>();
        foreach (var transport in new[] { "tcp", "websockets", "tls", "wss" })
        {
            data.Add(transport, "311");
            data.Add(transport, "5");
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(TransportsAndVersions))]
    public Task QoS012_RoundTrip_WithBinaryPayloadAndRetainedMessage(string transport, string protocol) =>
        RunAsync("qos", transport, protocol,
            "suback-granted-qos2", "publisher-acks", "received-count", "qos0-delivered", "qos1-delivered", "qos2-delivered",
            "retained-on-subscribe");

    [Theory]
    [InlineData("tcp")]
    [InlineData("websockets")]
    public Task V5PublishProperties_AreForwardedUnaltered_AndRequestResponseWorks(string transport) =>
        RunAsync("properties", transport, "5",
            "user-properties-in-order", "content-type", "payload-format-indicator", "message-expiry-forwarded",
            "request-response-correlation", "response-user-property");

    [Fact]
    public Task V5SubscriptionOptions_Identifiers_NoLocal_RetainHandling_RetainAsPublished() =>
        RunAsync("subscription-options", "tcp", "5",
            "overlap-one-copy", "overlap-carries-both-ids", "single-id", "no-local", "rh0-sends-retained",
            "rh1-existing-no-retained", "rh1-new-sends-retained", "rh2-no-retained", "rap1-keeps-retain-flag",
            "rap0-clears-retain-flag");

    [Fact]
    public Task V5MessageExpiry_ExpiredRetainedAndQueuedMessagesAreDropped_OthersCarryTheRemainingInterval() =>
        RunAsync("expiry", "tcp", "5",
            "expired-retained-not-sent", "live-retained-sent", "retained-remaining-interval", "session-present",
            "expired-queued-not-sent", "queued-delivered", "queued-remaining-interval");

    [Theory]
    [InlineData("311")]
    [InlineData("5")]
    public Task PersistentSession_SessionPresent_QueuedQoS1And2Delivered_CleanStartDiscards(string protocol) =>
        RunAsync("session", "tcp", protocol,
            "first-session-not-present", "session-present", "queued-delivered-with-qos", "queued-qos1-in-order",
            "clean-start-discards");

    [Theory]
    [InlineData("tcp", "311")]
    [InlineData("tcp", "5")]
    [InlineData("tls", "5")]
    [InlineData("websockets", "5")]
    public Task UserNameAndPassword_RightOnesConnect_AWrongPasswordIsRefused(string transport, string protocol) =>
        RunAsync("auth", transport, protocol, ["--username", InteropServer.UserName, "--password", InteropServer.Password],
            "right-password-accepted", "authenticated-round-trip", "wrong-password-refused");

    [Theory]
    [InlineData("tcp", "311")]
    [InlineData("tcp", "5")]
    [InlineData("tls", "5")]
    public Task JwtAsPassword_AValidTokenConnects_ExpiredAndForgedTokensAreRefused(string transport, string protocol) =>
        RunAsync("jwt", transport, protocol, ["--jwt-secret", InteropServer.JwtSecret],
            "valid-token-accepted", "token-round-trip", "expired-token-refused", "wrong-signature-refused");

    private Task RunAsync(string scenario, string transport, string protocol, params string[] expectedChecks) =>
        RunAsync(scenario, transport, protocol, [], expectedChecks);

    private async Task RunAsync(string scenario, string transport, string protocol, IEnumerable<string> extraArguments,
        params string[] expectedChecks)
    {
        var port = transport switch
        {
            "websockets" => Server.WsPort,
            "tls" => Server.TlsPort,
            "wss" => Server.WssPort,
            _ => Server.MqttPort,
        };
        var client = Start($"paho {scenario} ({transport}, v{protocol})", Python,
        [
            Path.Combine(ClientsDirectory, "python", "paho_client.py"), scenario,
            "--host", Server.Host, "--port", $"{port}", "--transport", transport, "--cafile", Server.CaFile,
            "--protocol", protocol, "--prefix", Prefix,
            .. extraArguments,
        ]);
        await RunScenarioAsync(client, expectedChecks);
    }
}
