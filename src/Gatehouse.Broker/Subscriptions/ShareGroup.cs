namespace Gatehouse.Broker.Subscriptions;

/// <summary>
/// The members of one shared subscription <c>$share/{Name}/{Filter}</c>. Each message goes to one member, chosen
/// round-robin among members whose client is connected and has room in its in-flight window, falling back to
/// connected members, then to any member (an offline persistent member queues it).
/// </summary>
public sealed class ShareGroup : RouteTarget
{
    private readonly Lock _lock = new();
    private Subscription[] _members = [];
    private int _next;

    public ShareGroup(string name, string filter)
    {
        Name = name;
        Filter = filter;
    }

    public string Name { get; }
    public string Filter { get; }
    public string Key => Name + "\0" + Filter;

    public bool IsEmpty => Volatile.Read(ref _members).Length == 0;

    public void AddOrReplace(Subscription subscription)
    {
        lock (_lock)
        {
            var index = Array.FindIndex(_members, m => ReferenceEquals(m.Session, subscription.Session));
            var copy = (Subscription[])_members.Clone();
            if (index >= 0) copy[index] = subscription;
            else copy = [.. copy, subscription];
            Volatile.Write(ref _members, copy);
        }
    }

    public bool Remove(Sessions.Session session)
    {
        lock (_lock)
        {
            var copy = _members.Where(m => !ReferenceEquals(m.Session, session)).ToArray();
            if (copy.Length == _members.Length) return false;
            Volatile.Write(ref _members, copy);
            return true;
        }
    }

    /// <summary>Whether someone besides <paramref name="session"/> is a member (and could take its messages).</summary>
    public bool HasMemberOtherThan(Sessions.Session session)
    {
        foreach (var member in Volatile.Read(ref _members))
        {
            if (!ReferenceEquals(member.Session, session)) return true;
        }
        return false;
    }

    /// <summary>Picks the member for the next message, skipping <paramref name="exclude"/> (a member that just left).</summary>
    public Subscription? Pick(Sessions.Session? exclude = null)
    {
        var members = Volatile.Read(ref _members);
        if (members.Length == 0) return null;
        var start = (int)((uint)Interlocked.Increment(ref _next) % (uint)members.Length);
        Subscription? connected = null;
        Subscription? any = null;
        for (var i = 0; i < members.Length; i++)
        {
            var candidate = members[(start + i) % members.Length];
            if (ReferenceEquals(candidate.Session, exclude)) continue;
            any ??= candidate;
            if (!candidate.Session.IsConnected) continue;
            if (candidate.Session.HasWindowRoom) return candidate;
            connected ??= candidate;
        }
        return connected ?? any;
    }
}
