using System.Collections.Concurrent;
using System.Diagnostics;
using Gatehouse.Protocol.Topics;

namespace Gatehouse.Broker.Subscriptions;

/// <summary>
/// The subscription index: a tree of topic-filter levels holding (filter, key) → value pairs, matched against topic
/// names by the rules of MQTT 5.0 section 4.7 (3.1.1 section 4.7 is the same). Filters arrive already validated
/// (<see cref="TopicRules.IsValidTopicFilter"/>) and without a <c>$share/{group}/</c> prefix.
/// </summary>
/// <remarks>
/// <para><b>Concurrency.</b> Writers (<see cref="AddOrReplace"/>, <see cref="Remove"/>) serialise on one lock; <see cref="Match"/>
/// takes no lock at all. Everything a reader can reach is either immutable once published (the small child and value
/// arrays, replaced whole on each change) or changes only by single-reference writes a reader sees whole or not at all
/// (<see cref="ChildTable"/> over a ConcurrentDictionary for wide levels, <see cref="ValueTable"/> slot arrays for
/// crowded filters). We chose this over ReaderWriterLockSlim because every EnterReadLock/ExitReadLock goes through that
/// lock's internal spin lock, so all publishing threads would fight over one cache line per message; here readers write
/// nothing shared. A Match concurrent with a change may or may not see it; a change that returned before Match began is
/// always seen; a pair that stayed put during a Match is seen exactly once per matching filter.</para>
/// <para><b>Memory.</b> A node is four references (48 bytes). Children and values start as exact-size arrays created on
/// first use and are promoted to hashed tables only past <see cref="SmallLimit"/> entries (demoted again at half), so the
/// common chain <c>devices/{id}/telemetry</c> with one subscriber costs one node, one 1-element child array and one
/// 1-element value array per level. '+' and '#' children live in dedicated fields, never in the child map.</para>
/// </remarks>
public sealed class TopicTree<TKey, TValue> where TKey : notnull
{
    /// <summary>Children or values per node kept in a copied-on-write array up to this count; beyond it, a hashed table.</summary>
    internal const int SmallLimit = 8;

    private readonly Node _root = new();
    private readonly Lock _writeLock = new();
    private readonly IEqualityComparer<TKey> _keyComparer;
    private readonly List<PathStep> _path = []; // Remove's scratch; guarded by _writeLock.
    private int _count;

    [ThreadStatic] private static Frame[]? t_matchStack;

    public TopicTree(IEqualityComparer<TKey>? keyComparer = null)
    {
        _keyComparer = keyComparer ?? EqualityComparer<TKey>.Default;
    }

    /// <summary>Number of (filter, key) pairs.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Adds the value for (filter, key), or replaces the value already stored for that pair. True if it was new.</summary>
    public bool AddOrReplace(string filter, TKey key, TValue value)
    {
        ArgumentNullException.ThrowIfNull(filter);
        lock (_writeLock)
        {
            var node = _root;
            var pos = 0;
            while (true)
            {
                var end = filter.IndexOf(TopicRules.LevelSeparator, pos);
                var last = end < 0;
                if (last) end = filter.Length;
                node = node.GetOrAddChild(filter, pos, end - pos);
                if (last) break;
                pos = end + 1;
            }
            if (!node.SetValue(key, value, _keyComparer)) return false;
            Volatile.Write(ref _count, _count + 1);
            return true;
        }
    }

    /// <summary>Removes (filter, key). True if it existed. Nodes left empty are pruned.</summary>
    public bool Remove(string filter, TKey key)
    {
        ArgumentNullException.ThrowIfNull(filter);
        lock (_writeLock)
        {
            var path = _path;
            try
            {
                var node = _root;
                var pos = 0;
                while (true)
                {
                    var end = filter.IndexOf(TopicRules.LevelSeparator, pos);
                    var last = end < 0;
                    if (last) end = filter.Length;
                    var child = node.GetChildForFilterLevel(filter.AsSpan(pos, end - pos));
                    if (child is null) return false;
                    path.Add(new PathStep(node, pos, end - pos));
                    node = child;
                    if (last) break;
                    pos = end + 1;
                }
                if (!node.RemoveValue(key, _keyComparer)) return false;
                Volatile.Write(ref _count, _count - 1);

                // Prune from the leaf up while the node has become empty; the root stays.
                for (var i = path.Count - 1; i >= 0 && node.IsEmpty; i--)
                {
                    var step = path[i];
                    step.Parent.DetachChild(filter.AsSpan(step.Start, step.Length));
                    node = step.Parent;
                }
                return true;
            }
            finally
            {
                path.Clear();
            }
        }
    }

    /// <summary>
    /// Appends to <paramref name="results"/> every value whose filter matches <paramref name="topic"/> (a topic name,
    /// no wildcards). A key appears once per matching filter; merging overlapping subscriptions is the caller's job.
    /// Allocates nothing beyond growing <paramref name="results"/> (and, once per thread, a small backtracking stack).
    /// </summary>
    public void Match(string topic, List<TValue> results)
    {
        ArgumentNullException.ThrowIfNull(topic);
        ArgumentNullException.ThrowIfNull(results);

        // A depth-first walk: follow the literal child, remember the '+' sibling on an explicit stack when both exist.
        // Explicit, not recursive, so a filter with thousands of levels cannot overflow the thread's stack.
        Frame[]? stack = null;
        int sp = 0, highWater = 0;
        var node = _root;
        var pos = 0; // start of the next topic level; topic.Length + 1 once every level is consumed.

        // Topic names starting with '$' are not matched by a filter starting with '+' or '#' [MQTT-4.7.2-1]; that is
        // the root's wildcard children only, as a '$' deeper down is an ordinary character.
        var wildcardsAllowed = topic.Length == 0 || topic[0] != '$';
        while (true)
        {
            // '#' matches its parent level and any number of child levels, so it matches here whatever is left:
            // `sport/#` matches `sport` (4.7.1.2; its syntax is [MQTT-4.7.1-1] in 5.0, [MQTT-4.7.1-2] in 3.1.1).
            // A lone '#' therefore matches every topic not starting with '$'.
            if (wildcardsAllowed) node.Hash?.AppendValues(results);

            Node? next = null;
            var nextPos = 0;
            if (pos > topic.Length)
            {
                node.AppendValues(results); // every level consumed: this node's own filters match exactly.
            }
            else
            {
                var end = topic.IndexOf(TopicRules.LevelSeparator, pos);
                if (end < 0) end = topic.Length;
                nextPos = end + 1;
                // Levels compare character for character with no normalisation [MQTT-4.7.3-4]: case-sensitive, and an
                // empty level is a level like any other ("/finance", "a//b", "a/").
                var literal = node.FindChild(topic.AsSpan(pos, end - pos));
                // '+' matches exactly one level, including an empty one (4.7.1.3; its syntax is [MQTT-4.7.1-2] in 5.0,
                // [MQTT-4.7.1-3] in 3.1.1).
                var plus = wildcardsAllowed ? node.Plus : null;
                if (literal is not null)
                {
                    next = literal;
                    if (plus is not null)
                    {
                        stack ??= TakeStack();
                        if (sp == stack.Length) Array.Resize(ref stack, stack.Length * 2);
                        stack[sp++] = new Frame(plus, nextPos);
                        if (sp > highWater) highWater = sp;
                    }
                }
                else
                {
                    next = plus;
                }
            }

            wildcardsAllowed = true; // only the root's wildcards are subject to [MQTT-4.7.2-1].
            if (next is not null)
            {
                node = next;
                pos = nextPos;
            }
            else if (sp > 0)
            {
                var frame = stack![--sp];
                node = frame.Node;
                pos = frame.Pos;
            }
            else
            {
                break;
            }
        }

        if (stack is not null)
        {
            stack.AsSpan(0, highWater).Clear(); // don't keep detached nodes alive from a thread-static.
            t_matchStack = stack;
        }
    }

    private static Frame[] TakeStack()
    {
        var stack = t_matchStack ?? new Frame[16];
        t_matchStack = null; // owned by this Match until returned.
        return stack;
    }

    /// <summary>Number of nodes below the root (test aid for pruning). Takes the write lock.</summary>
    internal int NodeCount()
    {
        lock (_writeLock)
        {
            var count = 0;
            var pending = new Stack<Node>();
            pending.Push(_root);
            while (pending.TryPop(out var n))
            {
                foreach (var child in n.EnumerateChildren())
                {
                    count++;
                    pending.Push(child);
                }
            }
            return count;
        }
    }

    private readonly record struct Frame(Node Node, int Pos);

    private readonly record struct PathStep(Node Parent, int Start, int Length);

    private readonly record struct Child(string Key, Node Node);

    private readonly record struct Pair(TKey Key, TValue Value);

    /// <summary>One filter level. Readers use <see cref="FindChild"/>, <see cref="AppendValues"/> and the wildcard
    /// fields; every other member is called only under the tree's write lock.</summary>
    private sealed class Node
    {
        public volatile Node? Plus;
        public volatile Node? Hash;
        private volatile object? _children; // null | Child[] (≤ SmallLimit, never mutated once published) | ChildTable
        private volatile object? _values;   // null | Pair[]  (≤ SmallLimit, never mutated once published) | ValueTable

        public bool IsEmpty => Plus is null && Hash is null && _children is null && _values is null;

        public Node? FindChild(ReadOnlySpan<char> level)
        {
            var children = _children;
            if (children is Child[] small)
            {
                foreach (var child in small)
                {
                    if (level.SequenceEqual(child.Key)) return child.Node;
                }
                return null;
            }
            return children is ChildTable table ? table.Find(level) : null;
        }

        public void AppendValues(List<TValue> results)
        {
            var values = _values;
            if (values is Pair[] small)
            {
                foreach (var pair in small) results.Add(pair.Value);
            }
            else if (values is ValueTable table)
            {
                table.AppendValues(results);
            }
        }

        public Node? GetChildForFilterLevel(ReadOnlySpan<char> level) => level switch
        {
            "+" => Plus,
            "#" => Hash,
            _ => FindChild(level),
        };

        public Node GetOrAddChild(string filter, int start, int length)
        {
            var level = filter.AsSpan(start, length);
            if (level is "+") return Plus ??= new Node();
            if (level is "#") return Hash ??= new Node();
            var existing = FindChild(level);
            if (existing is not null) return existing;

            var node = new Node();
            var key = length == filter.Length ? filter : filter.Substring(start, length);
            switch (_children)
            {
                case null:
                    _children = new[] { new Child(key, node) };
                    break;
                case Child[] small when small.Length < SmallLimit:
                    var grown = new Child[small.Length + 1];
                    small.CopyTo(grown, 0);
                    grown[^1] = new Child(key, node);
                    _children = grown;
                    break;
                case Child[] small:
                    var promoted = new ChildTable(small);
                    promoted.Add(key, node);
                    _children = promoted;
                    break;
                case ChildTable table:
                    table.Add(key, node);
                    break;
            }
            return node;
        }

        public void DetachChild(ReadOnlySpan<char> level)
        {
            if (level is "+") { Plus = null; return; }
            if (level is "#") { Hash = null; return; }
            switch (_children)
            {
                case Child[] small:
                    var index = -1;
                    for (var i = 0; i < small.Length; i++)
                    {
                        if (level.SequenceEqual(small[i].Key)) { index = i; break; }
                    }
                    if (index < 0) return;
                    if (small.Length == 1) { _children = null; return; }
                    var shrunk = new Child[small.Length - 1];
                    small.AsSpan(0, index).CopyTo(shrunk);
                    small.AsSpan(index + 1).CopyTo(shrunk.AsSpan(index));
                    _children = shrunk;
                    break;
                case ChildTable table:
                    if (table.Remove(level) && table.Count <= SmallLimit / 2) _children = table.ToArray();
                    break;
            }
        }

        public IEnumerable<Node> EnumerateChildren()
        {
            if (Plus is { } plus) yield return plus;
            if (Hash is { } hash) yield return hash;
            switch (_children)
            {
                case Child[] small:
                    foreach (var child in small) yield return child.Node;
                    break;
                case ChildTable table:
                    foreach (var child in table.ToArray()) yield return child.Node;
                    break;
            }
        }

        /// <summary>True if the key was new.</summary>
        public bool SetValue(TKey key, TValue value, IEqualityComparer<TKey> comparer)
        {
            switch (_values)
            {
                case null:
                    _values = new[] { new Pair(key, value) };
                    return true;
                case Pair[] small:
                    var index = IndexOf(small, key, comparer);
                    if (index >= 0)
                    {
                        var replaced = (Pair[])small.Clone();
                        replaced[index] = new Pair(key, value);
                        _values = replaced;
                        return false;
                    }
                    if (small.Length < SmallLimit)
                    {
                        var grown = new Pair[small.Length + 1];
                        small.CopyTo(grown, 0);
                        grown[^1] = new Pair(key, value);
                        _values = grown;
                    }
                    else
                    {
                        var promoted = new ValueTable(small, comparer);
                        promoted.Set(key, value);
                        _values = promoted;
                    }
                    return true;
                case ValueTable table:
                    return table.Set(key, value);
                default:
                    throw new UnreachableException();
            }
        }

        public bool RemoveValue(TKey key, IEqualityComparer<TKey> comparer)
        {
            switch (_values)
            {
                case Pair[] small:
                    var index = IndexOf(small, key, comparer);
                    if (index < 0) return false;
                    if (small.Length == 1) { _values = null; return true; }
                    var shrunk = new Pair[small.Length - 1];
                    small.AsSpan(0, index).CopyTo(shrunk);
                    small.AsSpan(index + 1).CopyTo(shrunk.AsSpan(index));
                    _values = shrunk;
                    return true;
                case ValueTable table:
                    if (!table.Remove(key)) return false;
                    if (table.Count <= SmallLimit / 2) _values = table.ToArray();
                    return true;
                default:
                    return false;
            }
        }

        private static int IndexOf(Pair[] pairs, TKey key, IEqualityComparer<TKey> comparer)
        {
            for (var i = 0; i < pairs.Length; i++)
            {
                if (comparer.Equals(pairs[i].Key, key)) return i;
            }
            return -1;
        }
    }

    /// <summary>
    /// Children of a wide level. ConcurrentDictionary reads are lock-free and safe beside a writer, and its alternate
    /// lookup finds a level by span without allocating a substring. Concurrency level 1: the tree already serialises
    /// writers, so one internal lock is enough and keeps the table small.
    /// </summary>
    private sealed class ChildTable
    {
        private readonly ConcurrentDictionary<string, Node> _map;
        private readonly ConcurrentDictionary<string, Node>.AlternateLookup<ReadOnlySpan<char>> _lookup;

        public ChildTable(Child[] initial)
        {
            _map = new(concurrencyLevel: 1, capacity: initial.Length * 4, StringComparer.Ordinal);
            _lookup = _map.GetAlternateLookup<ReadOnlySpan<char>>();
            foreach (var child in initial) Add(child.Key, child.Node);
        }

        public int Count { get; private set; }

        public Node? Find(ReadOnlySpan<char> level) => _lookup.TryGetValue(level, out var node) ? node : null;

        public void Add(string key, Node node)
        {
            if (_map.TryAdd(key, node)) Count++;
        }

        public bool Remove(ReadOnlySpan<char> level)
        {
            if (!_lookup.TryRemove(level, out _, out _)) return false;
            Count--;
            return true;
        }

        public Child[] ToArray()
        {
            var result = new Child[Count];
            var i = 0;
            foreach (var (key, node) in _map) result[i++] = new Child(key, node);
            return result;
        }
    }

    /// <summary>
    /// Values of a crowded filter (many subscribers on one filter). Readers scan a slot array in which each slot holds
    /// an immutable <see cref="Entry"/> or null, so a reader sees every untouched pair exactly once and a changed pair
    /// either before or after. Entries never move within a published array (moving one would let a concurrent reader
    /// miss it or see it twice); holes are squeezed out only when building a replacement array, which is then published
    /// whole. Slot positions for replace/remove come from a writer-only index.
    /// </summary>
    private sealed class ValueTable
    {
        private const int MinCapacity = SmallLimit * 2;
        private volatile Entry?[] _slots;
        private readonly Dictionary<TKey, int> _index;
        private int _used; // slots [0, _used) have been handed out; the rest are fresh.

        public ValueTable(Pair[] initial, IEqualityComparer<TKey> comparer)
        {
            _index = new Dictionary<TKey, int>(MinCapacity, comparer);
            var slots = new Entry?[MinCapacity];
            foreach (var pair in initial)
            {
                _index[pair.Key] = _used;
                slots[_used++] = new Entry(pair.Key, pair.Value);
            }
            _slots = slots;
        }

        public int Count => _index.Count;

        public void AppendValues(List<TValue> results)
        {
            foreach (var entry in _slots)
            {
                if (entry is not null) results.Add(entry.Value);
            }
        }

        public bool Set(TKey key, TValue value)
        {
            var slots = _slots;
            if (_index.TryGetValue(key, out var slot))
            {
                Volatile.Write(ref slots[slot], new Entry(key, value));
                return false;
            }
            if (_used == slots.Length) slots = Reallocate(Math.Max(MinCapacity, Count * 2));
            _index.Add(key, _used);
            Volatile.Write(ref slots[_used++], new Entry(key, value));
            return true;
        }

        public bool Remove(TKey key)
        {
            if (!_index.Remove(key, out var slot)) return false;
            var slots = _slots;
            Volatile.Write(ref slots[slot], null);
            if (slots.Length > MinCapacity && Count < slots.Length / 4) Reallocate(Math.Max(MinCapacity, Count * 2));
            return true;
        }

        public Pair[] ToArray()
        {
            var result = new Pair[Count];
            var i = 0;
            foreach (var entry in _slots)
            {
                if (entry is not null) result[i++] = new Pair(entry.Key, entry.Value);
            }
            return result;
        }

        /// <summary>Copies the live entries, packed, into a new array and publishes it; returns it.</summary>
        private Entry?[] Reallocate(int capacity)
        {
            var fresh = new Entry?[capacity];
            var used = 0;
            foreach (var entry in _slots)
            {
                if (entry is null) continue;
                _index[entry.Key] = used;
                fresh[used++] = entry;
            }
            _used = used;
            _slots = fresh;
            return fresh;
        }
    }

    private sealed class Entry(TKey key, TValue value)
    {
        public readonly TKey Key = key;
        public readonly TValue Value = value;
    }
}
