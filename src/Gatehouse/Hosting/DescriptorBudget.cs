using System.Globalization;

namespace Gatehouse.Hosting;

/// <summary>
/// How many connections the process's open-file limit (RLIMIT_NOFILE) can carry. Every socket is a descriptor; at
/// the limit accept() fails, and so does anything else that opens a file, the runtime's own assembly loads included
/// (seen: the process aborts with "Out of memory."). Connections are therefore capped below the limit: the MQTT cap
/// leaves room for refusing the next clients with a reason code, and the listeners' cap, nearer the limit, closes sockets
/// beyond even that before they can exhaust the descriptors the store, logs and runtime need.
/// </summary>
public sealed record DescriptorBudget(long OpenFileLimit, int InUse)
{
    /// <summary>
    /// Descriptors kept, beyond those open when the budget was taken, for what opens later: the runtime keeps every loaded
    /// assembly open (about 170 once serving), the store and its WAL, certificates, listeners.
    /// </summary>
    public const int Headroom = 384;

    /// <summary>Descriptors that are not client connections.</summary>
    public long Reserved => InUse + Headroom;

    /// <summary>Room between the MQTT cap and Kestrel's: sockets accepted only to be refused with CONNACK 0x89 / 0x03.</summary>
    public const int RefusalRoom = 128;

    /// <summary>Sockets held at once by the own TCP listener, and by Kestrel's listeners together.</summary>
    public long TransportCap => Math.Max(2, OpenFileLimit - Reserved + RefusalRoom);

    /// <summary>The most MQTT clients the limit allows (the cap applied to Broker:MaxConnections).</summary>
    public int ClientCap => (int)Math.Clamp(OpenFileLimit - Reserved, 1, int.MaxValue);

    /// <summary>The current process's soft open-file limit, from /proc/self/limits; null where that is unknown or unlimited.</summary>
    public static DescriptorBudget? ForCurrentProcess()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (Parse(line) is { } limit) return new DescriptorBudget(limit, Directory.GetFileSystemEntries("/proc/self/fd").Length);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
        return null;
    }

    /// <summary>The soft limit from the "Max open files" line of /proc/self/limits; null for another line or "unlimited".</summary>
    public static long? Parse(string limitsLine)
    {
        const string Name = "Max open files";
        if (!limitsLine.StartsWith(Name, StringComparison.Ordinal)) return null;
        var fields = limitsLine[Name.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length > 0 && long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var soft) ? soft : null;
    }
}
