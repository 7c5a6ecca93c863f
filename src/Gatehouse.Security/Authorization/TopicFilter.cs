namespace Gatehouse.Security.Authorization;

/// <summary>Topic-filter relations for authorization (section 4.7 semantics, including the '$' rule [MQTT-4.7.2-1]).</summary>
public static class TopicFilter
{
    /// <summary>Whether <paramref name="filter"/> matches the topic name <paramref name="topic"/>.</summary>
    public static bool Matches(ReadOnlySpan<char> filter, ReadOnlySpan<char> topic)
    {
        // [MQTT-4.7.2-1] a filter starting with a wildcard does not match topics starting with '$'.
        if (topic.Length > 0 && topic[0] == '$' && filter.Length > 0 && filter[0] is '+' or '#') return false;
        while (true)
        {
            var filterEnd = filter.IndexOf('/');
            var filterLevel = filterEnd < 0 ? filter : filter[..filterEnd];
            if (filterLevel is "#") return true; // also the parent level [MQTT-4.7.1-2]
            var topicEnd = topic.IndexOf('/');
            var topicLevel = topicEnd < 0 ? topic : topic[..topicEnd];
            if (filterLevel is not "+" && !filterLevel.SequenceEqual(topicLevel)) return false;
            if (filterEnd < 0 || topicEnd < 0)
            {
                if (filterEnd < 0 && topicEnd < 0) return true;
                return topicEnd < 0 && filter[(filterEnd + 1)..] is "#";
            }
            filter = filter[(filterEnd + 1)..];
            topic = topic[(topicEnd + 1)..];
        }
    }

    /// <summary>
    /// Whether every topic <paramref name="inner"/> can match is also matched by <paramref name="outer"/>, i.e. a
    /// subscription to <paramref name="inner"/> can never yield a topic outside <paramref name="outer"/>.
    /// "a/#" covers "a/+/b" and "a"; "a/+" does not cover "a/#"; "#" does not cover "$SYS/#".
    /// </summary>
    public static bool Covers(ReadOnlySpan<char> outer, ReadOnlySpan<char> inner)
    {
        var innerDollar = inner.Length > 0 && inner[0] == '$';
        var outerWild = outer.Length > 0 && outer[0] is '+' or '#';
        // A '$' topic is only matched by a filter whose first level is literal.
        if (innerDollar && outerWild) return false;
        while (true)
        {
            var outerEnd = outer.IndexOf('/');
            var outerLevel = outerEnd < 0 ? outer : outer[..outerEnd];
            if (outerLevel is "#") return true;
            var innerEnd = inner.IndexOf('/');
            var innerLevel = innerEnd < 0 ? inner : inner[..innerEnd];
            if (innerLevel is "#") return false; // inner reaches deeper than a non-# outer level allows
            if (outerLevel is "+")
            {
                // '+' covers any single level, including an inner '+'.
            }
            else if (innerLevel is "+" || !outerLevel.SequenceEqual(innerLevel))
            {
                return false;
            }
            if (outerEnd < 0 || innerEnd < 0)
            {
                if (outerEnd < 0 && innerEnd < 0) return true;
                // "a/#" covers "a".
                return innerEnd < 0 && outer[(outerEnd + 1)..] is "#";
            }
            outer = outer[(outerEnd + 1)..];
            inner = inner[(innerEnd + 1)..];
        }
    }
}
