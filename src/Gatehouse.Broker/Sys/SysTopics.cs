using System.Globalization;
using System.Reflection;
using System.Text;
using Gatehouse.Broker.Diagnostics;

namespace Gatehouse.Broker.Sys;

/// <summary>
/// The $SYS topics, published retained every <see cref="BrokerOptions.SysIntervalSeconds"/>. Names follow Mosquitto's
/// where one exists, so existing dashboards work.
/// </summary>
public sealed class SysTopics(MqttBroker broker, BrokerContext context) : IAsyncDisposable
{
    public static readonly string Version =
        typeof(SysTopics).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    public void Start()
    {
        if (context.Options.SysIntervalSeconds <= 0) return;
        _loop = RunAsync();
    }

    /// <summary>Current values by topic.</summary>
    public IEnumerable<(string Topic, string Value)> Snapshot()
    {
        var m = context.Metrics;
        string N(long value) => value.ToString(CultureInfo.InvariantCulture);
        yield return ("$SYS/broker/version", "gatehouse " + Version);
        yield return ("$SYS/broker/uptime", N((long)(context.Now - context.StartedAt).TotalSeconds) + " seconds");
        yield return ("$SYS/broker/clients/connected", N(BrokerMetrics.Read(ref m.ClientsConnected)));
        yield return ("$SYS/broker/clients/total", N(broker.Sessions.Count));
        yield return ("$SYS/broker/clients/disconnected", N(Math.Max(0, broker.Sessions.Count - BrokerMetrics.Read(ref m.ClientsConnected))));
        yield return ("$SYS/broker/connections/current", N(BrokerMetrics.Read(ref m.ConnectionsCurrent)));
        yield return ("$SYS/broker/connections/total", N(BrokerMetrics.Read(ref m.ConnectionsTotal)));
        yield return ("$SYS/broker/messages/received", N(BrokerMetrics.Read(ref m.MessagesReceived)));
        yield return ("$SYS/broker/messages/sent", N(BrokerMetrics.Read(ref m.MessagesSent)));
        yield return ("$SYS/broker/publish/messages/received", N(BrokerMetrics.Read(ref m.PublishReceived)));
        yield return ("$SYS/broker/publish/messages/sent", N(BrokerMetrics.Read(ref m.PublishSent)));
        yield return ("$SYS/broker/publish/messages/dropped", N(BrokerMetrics.Read(ref m.MessagesDropped)));
        yield return ("$SYS/broker/load/bytes/received", N(BrokerMetrics.Read(ref m.BytesReceived)));
        yield return ("$SYS/broker/load/bytes/sent", N(BrokerMetrics.Read(ref m.BytesSent)));
        yield return ("$SYS/broker/bytes/received", N(BrokerMetrics.Read(ref m.BytesReceived)));
        yield return ("$SYS/broker/bytes/sent", N(BrokerMetrics.Read(ref m.BytesSent)));
        yield return ("$SYS/broker/subscriptions/count", N(broker.Router.SubscriptionCount));
        yield return ("$SYS/broker/retained messages/count", N(broker.Retained.Count));
        yield return ("$SYS/broker/dropped/queue-full", N(BrokerMetrics.Read(ref m.DroppedQueueFull)));
        yield return ("$SYS/broker/dropped/too-large", N(BrokerMetrics.Read(ref m.DroppedTooLarge)));
        yield return ("$SYS/broker/dropped/slow-consumer", N(BrokerMetrics.Read(ref m.DroppedSlowConsumer)));
        yield return ("$SYS/broker/dropped/expired", N(BrokerMetrics.Read(ref m.DroppedExpired)));
        yield return ("$SYS/broker/backpressure/episodes", N(BrokerMetrics.Read(ref m.BackpressureEpisodes)));
        yield return ("$SYS/broker/backpressure/stalled", N(BrokerMetrics.Read(ref m.BackpressureStalls)));
        yield return ("$SYS/broker/limits/connections-refused", N(BrokerMetrics.Read(ref m.ConnectionsRejectedLimit)));
        yield return ("$SYS/broker/limits/subscriptions-refused", N(BrokerMetrics.Read(ref m.SubscriptionsRejectedLimit)));
        yield return ("$SYS/broker/protocol-errors", N(BrokerMetrics.Read(ref m.ProtocolErrors)));
    }

    public void PublishNow()
    {
        foreach (var (topic, value) in Snapshot())
        {
            broker.PublishServerMessage(topic, Encoding.UTF8.GetBytes(value), retain: true);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null) await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task RunAsync()
    {
        PublishNow();
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(context.Options.SysIntervalSeconds), context.Time);
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false)) PublishNow();
        }
        catch (OperationCanceledException)
        {
        }
    }
}
