using Gatehouse.Protocol.Topics;

namespace Gatehouse.Broker.Retained;

/// <summary>Matches one topic name against one topic filter (section 4.7), for scans such as retained messages.</summary>
public static class TopicMatcher
{
    public static bool Matches(ReadOnlySpan<char> filter, ReadOnlySpan<char> topic)
    {
        // [MQTT-4.7.2-1] a leading wildcard does not match topics that start with '$'.
        if (topic.Length > 0 && topic[0] == '$' && filter.Length > 0 && filter[0] is '+' or '#') return false;
        while (true)
        {
            var filterEnd = filter.IndexOf(TopicRules.LevelSeparator);
            var filterLevel = filterEnd < 0 ? filter : filter[..filterEnd];
            if (filterLevel is "#") return true; // matches the parent level too [MQTT-4.7.1-2]
            var topicEnd = topic.IndexOf(TopicRules.LevelSeparator);
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
}
