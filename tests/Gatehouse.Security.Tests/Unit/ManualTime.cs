namespace Gatehouse.Security.Tests.Unit;

/// <summary>A clock the test moves by hand: timestamps and UTC time advance together, nothing sleeps.</summary>
internal sealed class ManualTime : TimeProvider
{
    private long _ticks;
    private readonly DateTimeOffset _start = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;
    public override long GetTimestamp() => Interlocked.Read(ref _ticks);
    public override DateTimeOffset GetUtcNow() => _start.AddTicks(Interlocked.Read(ref _ticks));
    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
