using Gatehouse.Bench;

namespace Gatehouse.Bench.Tests;

public class HistogramTests
{
    [Fact]
    public void Small_values_are_exact()
    {
        var h = new LatencyHistogram();
        for (var v = 1; v <= 100; v++) h.Record(v);
        Assert.Equal(100, h.Count);
        Assert.Equal(50, h.Percentile(50));
        Assert.Equal(90, h.Percentile(90));
        Assert.Equal(99, h.Percentile(99));
        Assert.Equal(100, h.Percentile(100));
        Assert.Equal(100, h.Max);
        Assert.Equal(1, h.Min);
        Assert.Equal(50.5, h.Mean);
    }

    [Theory]
    [InlineData(128)]
    [InlineData(1_000)]
    [InlineData(123_456)]
    [InlineData(9_876_543_210)]
    public void Large_values_are_within_one_bucket_and_never_underestimated(long value)
    {
        var h = new LatencyHistogram();
        h.Record(value);
        h.Record(1); // the maximum caps the reported value, so keep another value below
        var reported = h.Percentile(100);
        Assert.Equal(value, reported); // capped by the exact maximum

        var bucketTop = LatencyHistogram.HighestValueOf(LatencyHistogram.IndexOf(value));
        Assert.InRange(bucketTop, value, value + value / 64);
    }

    [Fact]
    public void Percentiles_of_a_wide_distribution_are_within_the_relative_error()
    {
        var h = new LatencyHistogram();
        for (var v = 1; v <= 100_000; v++) h.Record(v);
        foreach (var (p, exact) in new[] { (50.0, 50_000L), (90.0, 90_000L), (99.0, 99_000L), (99.9, 99_900L) })
        {
            var reported = h.Percentile(p);
            Assert.InRange(reported, exact, exact + exact / 64 + 1);
        }
        Assert.Equal(100_000, h.Max);
    }

    [Fact]
    public void Every_bucket_index_maps_back_to_a_range_containing_the_value()
    {
        for (long v = 0; v < 1 << 20; v += 7)
        {
            var i = LatencyHistogram.IndexOf(v);
            Assert.True(LatencyHistogram.HighestValueOf(i) >= v);
            if (i > 0) Assert.True(LatencyHistogram.HighestValueOf(i - 1) < v);
        }
    }

    [Fact]
    public void Merging_adds_counts_and_keeps_extremes()
    {
        var a = new LatencyHistogram();
        var b = new LatencyHistogram();
        for (var v = 1; v <= 50; v++) a.Record(v);
        for (var v = 51; v <= 100; v++) b.Record(v);
        a.Add(b);
        Assert.Equal(100, a.Count);
        Assert.Equal(50, a.Percentile(50));
        Assert.Equal(100, a.Max);
        Assert.Equal(1, a.Min);
    }

    [Fact]
    public void Empty_histogram_reports_zero()
    {
        var h = new LatencyHistogram();
        Assert.Equal(0, h.Percentile(99));
        Assert.Equal(0, h.Mean);
    }
}
