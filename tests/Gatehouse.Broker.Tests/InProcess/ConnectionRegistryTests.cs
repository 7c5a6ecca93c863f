using Gatehouse.Testing;

namespace Gatehouse.Broker.Tests.InProcess;

/// <summary>
/// The broker's list of live connections (linked through the channels): what revocation and shutdown enumerate and
/// $SYS counts must be exactly the connections still open, whichever of them closed first.
/// </summary>
public sealed class ConnectionRegistryTests : InProcessBrokerTest
{
    private string[] Registered() => Hub.Broker.Connections.All.Select(c => c.ClientId ?? "?").Order(StringComparer.Ordinal).ToArray();

    private async Task CloseAsync(MqttTestClient client, string[] remaining)
    {
        await client.AbortAsync();
        await Eventually.Assert(() => Hub.Broker.Connections.Count == remaining.Length, $"{remaining.Length} connections left");
        Assert.Equal(remaining, Registered());
    }

    [Fact]
    public async Task Closing_connections_in_any_order_leaves_exactly_the_open_ones()
    {
        var clients = new Dictionary<string, MqttTestClient>();
        foreach (var id in new[] { "a", "b", "c", "d", "e" }) clients[id] = await Hub.ConnectAsync(id);
        Assert.Equal(5, Hub.Broker.Connections.Count);
        Assert.Equal(["a", "b", "c", "d", "e"], Registered());

        // The last registered (the list's head), one in the middle, the first registered (its tail), then the rest.
        await CloseAsync(clients["e"], ["a", "b", "c", "d"]);
        await CloseAsync(clients["c"], ["a", "b", "d"]);
        await CloseAsync(clients["a"], ["b", "d"]);

        // A connection registered after removals joins the others.
        clients["f"] = await Hub.ConnectAsync("f");
        Assert.Equal(["b", "d", "f"], Registered());

        await CloseAsync(clients["d"], ["b", "f"]);
        await CloseAsync(clients["f"], ["b"]);
        await CloseAsync(clients["b"], []);
    }

    [Fact]
    public async Task A_takeover_leaves_one_registered_connection_for_the_client_id()
    {
        // The taken-over connection is unregistered when it closes; the new one stays.
        var first = await Hub.ConnectAsync("same");
        var second = await Hub.ConnectAsync("same");
        await first.ExpectDisconnectAndCloseAsync(Gatehouse.Protocol.ReasonCode.SessionTakenOver);
        await Eventually.Assert(() => Hub.Broker.Connections.Count == 1, "one connection left");
        Assert.Equal(["same"], Registered());
        await CloseAsync(second, []);
    }
}
