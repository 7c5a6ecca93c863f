namespace Gatehouse.Security.Authorization;

/// <summary>
/// Filter-to-filter coverage for authorization (section 4.7 semantics, including the '$' rule [MQTT-4.7.2-1]);
/// filter-to-topic matching is <see cref="Gatehouse.Protocol.Topics.TopicRules.Matches"/>.
/// </summary>
public static class TopicFilter
{
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
