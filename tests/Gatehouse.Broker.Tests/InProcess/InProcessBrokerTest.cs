namespace Gatehouse.Broker.Tests.InProcess;

/// <summary>A test class whose every test gets an <see cref="InProcessBroker"/> of its own, started before it and stopped after.</summary>
public abstract class InProcessBrokerTest : IAsyncLifetime
{
    /// <summary>The running test's broker.</summary>
    private protected InProcessBroker Hub { get; private set; } = null!;

    public async Task InitializeAsync() => Hub = await InProcessBroker.StartAsync();

    public async Task DisposeAsync() => await Hub.DisposeAsync();
}
