using System.Collections.Concurrent;
using System.Net;
using Gatehouse.Security.Quotas;

namespace Gatehouse.Security.Authentication;

/// <summary>
/// Failed-authentication throttling. Failures are counted per source address and per user name; <c>MaxFailures</c>
/// within <c>WindowSeconds</c> bans that key for <c>BanSeconds</c>, doubling with every further ban of the same key
/// (exponential back-off) up to <c>MaxBanSeconds</c>. A banned client is refused (CONNACK 0x8A / 3.1.1 return code 5)
/// before any password is hashed. Bans expire by themselves; a key is forgotten once quiet for the longest ban.
/// </summary>
public sealed class BruteForceGuard(BruteForceOptions options, TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    public BruteForceOptions Options => options;
    public int TrackedKeys => _entries.Count;

    /// <summary>A new ban: who, until when, and how many times this key has been banned.</summary>
    public readonly record struct Ban(string Key, DateTimeOffset Until, int Count);

    public static string AddressKey(string address) => "address " + address;
    public static string IdentityKey(string userName) => "identity " + userName;

    /// <summary>A peer's address as its key names it (no port; IPv4-mapped IPv6 as IPv4); null for none.</summary>
    public static string? AddressOf(IPAddress? address) =>
        address is null ? null : (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();

    /// <summary>False while nothing has failed: no key can be banned, and a connection need not build its keys to ask.</summary>
    public bool MayHaveBans => options.Enabled && !_entries.IsEmpty;

    /// <summary>Whether the address or the user name is banned now; <paramref name="ban"/> is the one found.</summary>
    public bool IsBanned(string? address, string? userName, out Ban ban)
    {
        ban = default;
        if (!options.Enabled) return false;
        var now = time.GetUtcNow();
        return Check(address is null ? null : AddressKey(address), now, ref ban)
            || Check(string.IsNullOrEmpty(userName) ? null : IdentityKey(userName), now, ref ban);
    }

    private bool Check(string? key, DateTimeOffset now, ref Ban ban)
    {
        if (key is null || !_entries.TryGetValue(key, out var entry)) return false;
        lock (entry)
        {
            if (entry.BannedUntil <= now) return false;
            ban = new Ban(key, entry.BannedUntil, entry.Bans);
            return true;
        }
    }

    /// <summary>Records a failed authentication; returns the bans it started (none, or the address and/or the user name).</summary>
    public List<Ban>? RecordFailure(string? address, string? userName)
    {
        if (!options.Enabled) return null;
        var now = time.GetUtcNow();
        List<Ban>? bans = null;
        Fail(address is null ? null : AddressKey(address), now, ref bans);
        Fail(string.IsNullOrEmpty(userName) ? null : IdentityKey(userName), now, ref bans);
        if (_entries.Count > options.MaxTrackedKeys) Prune(now);
        return bans;
    }

    /// <summary>A successful authentication clears the user name's failure count (not an active ban, not the address's).</summary>
    public void RecordSuccess(string? userName)
    {
        if (!options.Enabled || string.IsNullOrEmpty(userName) || !_entries.TryGetValue(IdentityKey(userName), out var entry)) return;
        lock (entry) entry.Failures = 0;
    }

    private void Fail(string? key, DateTimeOffset now, ref List<Ban>? bans)
    {
        if (key is null) return;
        var entry = _entries.GetOrAdd(key, static _ => new Entry());
        lock (entry)
        {
            entry.LastSeen = now;
            if (now - entry.WindowStart > TimeSpan.FromSeconds(options.WindowSeconds))
            {
                entry.WindowStart = now;
                entry.Failures = 0;
            }
            entry.Failures++;
            if (entry.Failures < Math.Max(1, options.MaxFailures)) return;
            var seconds = Math.Min(options.MaxBanSeconds, options.BanSeconds * Math.Pow(2, Math.Min(entry.Bans, 30)));
            entry.Bans++;
            entry.Failures = 0;
            entry.WindowStart = now;
            entry.BannedUntil = now + TimeSpan.FromSeconds(Math.Max(0, seconds));
            (bans ??= []).Add(new Ban(key, entry.BannedUntil, entry.Bans));
        }
    }

    /// <summary>Drops keys that are not banned and have been quiet for longer than the window and the longest ban.</summary>
    internal void Prune(DateTimeOffset now)
    {
        var quiet = TimeSpan.FromSeconds(Math.Max(options.WindowSeconds, options.MaxBanSeconds));
        foreach (var (key, entry) in _entries)
        {
            bool stale;
            lock (entry) stale = entry.BannedUntil <= now && now - entry.LastSeen > quiet;
            if (stale) _entries.TryRemove(key, out _);
        }
        if (_entries.Count <= options.MaxTrackedKeys) return;
        // Still too many (a distributed attack): forget failure counts that have not led to a ban; bans stay.
        foreach (var (key, entry) in _entries)
        {
            bool unbanned;
            lock (entry) unbanned = entry.BannedUntil <= now;
            if (unbanned) _entries.TryRemove(key, out _);
        }
    }

    private sealed class Entry
    {
        public int Failures;
        public int Bans;
        public DateTimeOffset WindowStart;
        public DateTimeOffset BannedUntil;
        public DateTimeOffset LastSeen;
    }
}
