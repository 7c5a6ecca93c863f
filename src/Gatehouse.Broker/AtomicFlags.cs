namespace Gatehouse.Broker;

/// <summary>
/// Yes/no states packed into one byte of an object that every connection or session has, so a handful of bools does not
/// spill its fields into another 8-byte word. Each change is a compare-and-swap, so flags set by different threads (or
/// under different locks) never undo each other.
/// </summary>
internal static class AtomicFlags
{
    public static bool Has(ref byte flags, byte flag) => (Volatile.Read(ref flags) & flag) != 0;

    public static void Set(ref byte flags, byte flag, bool on)
    {
        byte old, updated;
        do
        {
            old = Volatile.Read(ref flags);
            updated = on ? (byte)(old | flag) : (byte)(old & ~flag);
        } while (Interlocked.CompareExchange(ref flags, updated, old) != old);
    }
}
