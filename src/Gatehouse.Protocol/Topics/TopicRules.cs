namespace Gatehouse.Protocol.Topics;

/// <summary>Syntax rules for topic names and topic filters (section 4.7). UTF-8 well-formedness is checked by the codec.</summary>
public static class TopicRules
{
    public const char LevelSeparator = '/';
    public const char SingleLevelWildcard = '+';
    public const char MultiLevelWildcard = '#';
    public const string SharePrefix = "$share/";

    /// <summary>A topic name is at least one character and holds no wildcard [MQTT-4.7.3-1], [MQTT-3.3.2-2].</summary>
    public static bool IsValidTopicName(ReadOnlySpan<char> topic)
    {
        if (topic.IsEmpty) return false;
        return topic.IndexOfAny(SingleLevelWildcard, MultiLevelWildcard, '\0') < 0;
    }

    /// <summary>
    /// A topic filter is at least one character; '#' only as the whole last level [MQTT-4.7.1-1]; '+' only as a whole
    /// level [MQTT-4.7.1-2]. Shared-subscription syntax is not accepted here: see <see cref="TryParseShared"/>.
    /// </summary>
    public static bool IsValidTopicFilter(ReadOnlySpan<char> filter)
    {
        if (filter.IsEmpty || filter.Contains('\0')) return false;
        for (var i = 0; i < filter.Length; i++)
        {
            var c = filter[i];
            if (c != SingleLevelWildcard && c != MultiLevelWildcard) continue;
            var startsLevel = i == 0 || filter[i - 1] == LevelSeparator;
            var endsLevel = i == filter.Length - 1 || filter[i + 1] == LevelSeparator;
            if (!startsLevel || !endsLevel) return false;
            if (c == MultiLevelWildcard && i != filter.Length - 1) return false;
        }
        return true;
    }

    /// <summary>
    /// Whether the topic filter <paramref name="filter"/> matches the topic name <paramref name="topic"/> (section 4.7):
    /// '+' is exactly one level (possibly empty), '#' the parent level and everything below it, and a filter starting
    /// with a wildcard never matches a topic starting with '$' [MQTT-4.7.2-1]. The broker's subscription index does the
    /// same per level; this is for scans (retained messages) and rule checks (authorization).
    /// </summary>
    public static bool Matches(ReadOnlySpan<char> filter, ReadOnlySpan<char> topic)
    {
        if (topic.Length > 0 && topic[0] == '$' && filter.Length > 0 && filter[0] is SingleLevelWildcard or MultiLevelWildcard) return false;
        while (true)
        {
            var filterEnd = filter.IndexOf(LevelSeparator);
            var filterLevel = filterEnd < 0 ? filter : filter[..filterEnd];
            if (filterLevel is "#") return true;
            var topicEnd = topic.IndexOf(LevelSeparator);
            var topicLevel = topicEnd < 0 ? topic : topic[..topicEnd];
            if (filterLevel is not "+" && !filterLevel.SequenceEqual(topicLevel)) return false;
            if (filterEnd < 0 || topicEnd < 0)
            {
                if (filterEnd < 0 && topicEnd < 0) return true;
                // "a/#" matches "a": the filter has one more level and it is '#'.
                return topicEnd < 0 && filter[(filterEnd + 1)..] is "#";
            }
            filter = filter[(filterEnd + 1)..];
            topic = topic[(topicEnd + 1)..];
        }
    }

    public static bool ContainsWildcard(ReadOnlySpan<char> filter) =>
        filter.IndexOfAny(SingleLevelWildcard, MultiLevelWildcard) >= 0;

    /// <summary>Number of levels: separators + 1.</summary>
    public static int CountLevels(ReadOnlySpan<char> topic) => topic.Count(LevelSeparator) + 1;

    /// <summary>
    /// Recognises <c>$share/{ShareName}/{filter}</c> [MQTT-4.8.2-1], [MQTT-4.8.2-2]. Returns
    /// <see cref="ShareParse.NotShared"/> for an ordinary filter, <see cref="ShareParse.Invalid"/> when the share
    /// name is empty or holds a wildcard or the inner filter is missing or invalid.
    /// </summary>
    public static ShareParse TryParseShared(string filter, out string shareName, out string innerFilter)
    {
        shareName = "";
        innerFilter = filter;
        if (!filter.StartsWith(SharePrefix, StringComparison.Ordinal)) return ShareParse.NotShared;
        var rest = filter.AsSpan(SharePrefix.Length);
        var slash = rest.IndexOf(LevelSeparator);
        if (slash <= 0) return ShareParse.Invalid;
        var name = rest[..slash];
        if (ContainsWildcard(name)) return ShareParse.Invalid;
        var inner = rest[(slash + 1)..];
        if (!IsValidTopicFilter(inner)) return ShareParse.Invalid;
        shareName = name.ToString();
        innerFilter = inner.ToString();
        return ShareParse.Shared;
    }
}

public enum ShareParse
{
    NotShared,
    Shared,
    Invalid,
}
