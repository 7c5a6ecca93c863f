using Gatehouse.Protocol;
using Gatehouse.Storage.Embedded;

namespace Gatehouse.Storage.Tests;

/// <summary>
/// Samples/format-v1.db was written by format version 1 (two sessions, a will, subscriptions, an in-flight QoS 2
/// delivery, a shared-subscription delivery, incoming QoS 2 ids, a retained message). Keep it: a later build must still
/// read it, or refuse it with a clear message once a migration exists.
/// </summary>
public sealed class FormatSampleTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task Format_version_1_sample_loads_completely()
    {
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Samples", "format-v1.db"), _directory.Sub("gatehouse.db"));
        await using var store = SqliteBrokerStore.Open(new SqliteStoreOptions { DataDirectory = _directory.Path });
        var snapshot = await store.LoadAsync(CancellationToken.None);
        var t0 = DateTimeOffset.FromUnixTimeMilliseconds(1_750_000_000_000);

        var v5 = Assert.Single(snapshot.Sessions, s => s.Session.ClientId == "sample-v5");
        Assert.Equal(ProtocolVersion.V500, v5.Session.ProtocolVersion);
        Assert.Equal(86400u, v5.Session.ExpiryIntervalSeconds);
        Assert.Equal(t0, v5.Session.DisconnectedAt);
        var will = v5.Session.PendingWill!;
        Assert.Equal(t0.AddSeconds(30), will.PublishAt);
        Assert.Equal("will/v5", will.Message.Topic);
        Assert.Equal("bye"u8.ToArray(), will.Message.Payload.ToArray());
        Assert.True(will.Message.Retain);
        Assert.Equal(t0.AddSeconds(120), will.Message.ExpiresAt);
        Assert.Equal("reply/1", will.Message.Properties!.ResponseTopic);
        Assert.Equal([new UserProperty("k", "v"), new UserProperty("k", "v2")], will.Message.Properties.UserProperties!);
        Assert.Equal(new SubscriptionRecord("sensors/+/temp", QoS.ExactlyOnce, true, true, 1, 42), Assert.Single(v5.Subscriptions));
        var inflight = Assert.Single(v5.Deliveries);
        Assert.Equal((1L, (ushort)513, DeliveryState.AwaitingComp), (inflight.MessageId, inflight.PacketId, inflight.State));
        Assert.Equal([42u], inflight.Delivery.SubscriptionIdentifiers!);
        Assert.Equal(new ushort[] { 7, 65535 }, v5.IncomingQoS2.Order());

        var v311 = Assert.Single(snapshot.Sessions, s => s.Session.ClientId == "sample-v311");
        Assert.Equal(uint.MaxValue, v311.Session.ExpiryIntervalSeconds);
        Assert.Null(v311.Session.DisconnectedAt);
        Assert.Equal(new long[] { 1, 2 }, v311.Deliveries.Select(d => d.MessageId));
        Assert.Equal("g/jobs/#", v311.Deliveries[1].Delivery.ShareGroup);

        Assert.Equal(2, snapshot.Messages.Count);
        Assert.Equal("21.5"u8.ToArray(), snapshot.Messages[1].Payload.ToArray());
        Assert.Equal(new byte[] { 9, 8, 7 }, snapshot.Messages[1].Properties!.CorrelationData!.Value.ToArray());
        Assert.Equal(0, snapshot.Messages[2].Payload.Length);
        var retained = Assert.Single(snapshot.Retained);
        Assert.Equal(("status/broker", 3L, "text/plain"), (retained.Topic, retained.Id, retained.Properties!.ContentType));
    }
}
