using Gatehouse.Testing;

namespace Gatehouse.Host.Tests.Infrastructure;

/// <summary>
/// The servers these tests start get several ports picked in a row; one picked twice made a server refuse to start
/// ("--mqtt-port and --tls-port are both 42841") and failed an unrelated test in CI.
/// </summary>
public sealed class FreePortTests
{
    [Fact]
    public void Ports_picked_in_a_row_are_all_different()
    {
        // 500 picks from the ~28,000 ephemeral ports: without the memory of recent ports a repeat is all but certain.
        var ports = Enumerable.Range(0, 500).Select(_ => FreePort.Next()).ToList();
        Assert.Equal(ports.Count, ports.Distinct().Count());
    }
}
