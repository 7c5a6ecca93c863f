using Gatehouse.Broker;
using Microsoft.Extensions.Hosting;

namespace Gatehouse.Hosting;

/// <summary>
/// Ties the broker to the host's lifetime. Uses the lifecycle hooks so that the broker is started before Kestrel
/// accepts the first connection and shut down (DISCONNECT 0x8B to v5 clients, flush, close) before Kestrel stops:
/// Kestrel cannot close MQTT connections gracefully itself and would wait out the shutdown timeout.
/// </summary>
internal sealed class BrokerLifetimeService(MqttBroker broker) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => broker.StartAsync(cancellationToken);

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => broker.ShutdownAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
