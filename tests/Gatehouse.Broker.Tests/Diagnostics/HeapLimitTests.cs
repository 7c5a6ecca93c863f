using Gatehouse.Broker.Diagnostics;
using Gatehouse.Broker.Tests.InProcess;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gatehouse.Broker.Tests.Diagnostics;

/// <summary>The heap limit's states: reached at the limit, lifted below it, and 0 meaning a share of the available memory.</summary>
public sealed class HeapLimitTests
{
    private static HeapLimit Limit(long bytes) => new(bytes, new LimitReporter(NullLogger.Instance, new ManualClock()), new ManualClock());

    [Fact]
    public void Queueing_stops_at_the_limit_and_resumes_below_it()
    {
        var limit = Limit(1000);
        limit.Update(999);
        Assert.False(limit.IsReached);
        limit.Update(1000);
        Assert.True(limit.IsReached);
        limit.Update(5000);
        Assert.True(limit.IsReached);
        limit.Update(999);
        Assert.False(limit.IsReached);
    }

    [Fact]
    public void Zero_means_three_quarters_of_the_memory_available_to_the_process()
    {
        var available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        Assert.Equal(available / 4 * 3, Limit(0).LimitBytes);
        Assert.Equal(12345, Limit(12345).LimitBytes);
    }
}
