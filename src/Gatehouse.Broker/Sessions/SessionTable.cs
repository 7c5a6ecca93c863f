namespace Gatehouse.Broker.Sessions;

/// <summary>
/// The sessions by client id: an open-addressing hash table of session references (linear probing, keyed by
/// <see cref="Session.ClientId"/>). Every connected client and every offline persistent session has an entry, so the
/// entry's size is paid a million times on a large fleet: a slot here is one reference (8 bytes, at most 75 % of the
/// slots used), where a <c>ConcurrentDictionary</c> node cost 48 bytes plus its bucket.
/// <para>
/// Writes are serialised by the caller (the session manager's lock). Reads take no lock: a reader works on the slot array
/// it read, in which a write only ever stores a reference (a session, or the marker of a removed one), and a resize
/// publishes a new array and never touches the old one again. A slot once used is never empty again until the next
/// resize, so a probe never stops short of an entry that was there when it began.
/// </para>
/// </summary>
internal sealed class SessionTable
{
    private const int MinimumLength = 16;

    // Marks a removed entry: probes go past it, inserts may reuse it.
    private static readonly object Removed = new();

    private object?[] _slots = new object?[MinimumLength];
    private int _count;
    // Slots that are not empty: entries and removal markers. The array is rebuilt before it is three quarters full.
    private int _used;

    public int Count => Volatile.Read(ref _count);

    public Session? Find(string clientId)
    {
        var slots = Volatile.Read(ref _slots);
        var mask = slots.Length - 1;
        for (var i = Home(clientId, mask); ; i = (i + 1) & mask)
        {
            var slot = Volatile.Read(ref slots[i]);
            if (slot is null) return null;
            if (slot is Session session && string.Equals(session.ClientId, clientId, StringComparison.Ordinal)) return session;
        }
    }

    /// <summary>Makes <paramref name="session"/> the entry of its client id, replacing any other. Caller serialises writes.</summary>
    public void Set(Session session)
    {
        var slots = _slots;
        var mask = slots.Length - 1;
        var reusable = -1;
        for (var i = Home(session.ClientId, mask); ; i = (i + 1) & mask)
        {
            var slot = slots[i];
            if (slot is null)
            {
                if (reusable < 0 && (_used + 1) * 4 > slots.Length * 3)
                {
                    // No room for another used slot: rebuild (dropping the removal markers) and insert there.
                    Rebuild(_count + 1);
                    Set(session);
                    return;
                }
                if (reusable < 0) _used++;
                Volatile.Write(ref slots[reusable >= 0 ? reusable : i], session);
                Interlocked.Increment(ref _count);
                return;
            }
            if (ReferenceEquals(slot, Removed))
            {
                if (reusable < 0) reusable = i;
                continue;
            }
            if (string.Equals(((Session)slot).ClientId, session.ClientId, StringComparison.Ordinal))
            {
                Volatile.Write(ref slots[i], session);
                return;
            }
        }
    }

    /// <summary>Removes the entry of <paramref name="session"/>'s client id if it is that session. Caller serialises writes.</summary>
    public bool Remove(Session session)
    {
        var slots = _slots;
        var mask = slots.Length - 1;
        for (var i = Home(session.ClientId, mask); ; i = (i + 1) & mask)
        {
            var slot = slots[i];
            if (slot is null) return false;
            if (!ReferenceEquals(slot, session)) continue;
            Volatile.Write(ref slots[i], Removed);
            Interlocked.Decrement(ref _count);
            // Mostly markers (a connect storm that left): shrink, so a table once grown for many clients is not kept.
            if (slots.Length > MinimumLength && _count * 8 < slots.Length) Rebuild(_count);
            return true;
        }
    }

    /// <summary>Every session, as the slot array holds them when the enumeration reaches them (no lock, no copy).</summary>
    public IEnumerable<Session> All
    {
        get
        {
            var slots = Volatile.Read(ref _slots);
            for (var i = 0; i < slots.Length; i++)
            {
                if (Volatile.Read(ref slots[i]) is Session session) yield return session;
            }
        }
    }

    private void Rebuild(int entries)
    {
        var length = MinimumLength;
        // At most half full afterwards, so inserts run for a while before the next rebuild.
        while (length < entries * 2) length *= 2;
        var old = _slots;
        var slots = new object?[length];
        var mask = length - 1;
        var count = 0;
        foreach (var slot in old)
        {
            if (slot is not Session session) continue;
            var i = Home(session.ClientId, mask);
            while (slots[i] is not null) i = (i + 1) & mask;
            slots[i] = session;
            count++;
        }
        _used = count;
        // Published whole: readers see the old array or this one, each complete.
        Volatile.Write(ref _slots, slots);
    }

    private static int Home(string clientId, int mask) => string.GetHashCode(clientId, StringComparison.Ordinal) & mask;
}
