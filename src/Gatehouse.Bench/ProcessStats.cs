using System.Diagnostics;
using System.Globalization;

namespace Gatehouse.Bench;

/// <summary>CPU time of this process and, through /proc, of the broker's (Linux only; null elsewhere or when unreadable).</summary>
internal sealed class CpuMeter
{
    private readonly int? _brokerPid;
    private readonly long _startTicks = Stopwatch.GetTimestamp();
    private readonly TimeSpan _selfStart = Process.GetCurrentProcess().TotalProcessorTime;
    private readonly double? _brokerStart;

    public CpuMeter(int? brokerPid)
    {
        _brokerPid = brokerPid;
        _brokerStart = brokerPid is { } pid ? ProcessStats.CpuSeconds(pid) : null;
    }

    public double WallSeconds => Stopwatch.GetElapsedTime(_startTicks).TotalSeconds;

    public double SelfPercent => 100 * (Process.GetCurrentProcess().TotalProcessorTime - _selfStart).TotalSeconds / Math.Max(WallSeconds, 1e-9);

    public double? BrokerPercent => _brokerPid is { } pid && _brokerStart is { } start && ProcessStats.CpuSeconds(pid) is { } now
        ? 100 * (now - start) / Math.Max(WallSeconds, 1e-9)
        : null;
}

internal static class ProcessStats
{
    private const double ClockTicksPerSecond = 100; // USER_HZ on Linux

    /// <summary>utime + stime of a process, from /proc/PID/stat.</summary>
    public static double? CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // After "pid (comm) ": state is field 3, utime field 14, stime field 15.
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / ClockTicksPerSecond;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>VmRSS of a process in bytes, from /proc/PID/status.</summary>
    public static long? RssBytes(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (!line.StartsWith("VmRSS:", StringComparison.Ordinal)) continue;
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return long.Parse(parts[1], CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
        }
        return null;
    }
}
