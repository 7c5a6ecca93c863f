using System.Collections;
using System.Reflection;
using System.Text;

namespace Gatehouse.Protocol.Tests.Support;

/// <summary>
/// A canonical text form of a packet (all public properties, recursively) so decoded packets can be compared
/// structurally. An all-absent <see cref="MqttProperties"/> prints like null: the wire cannot tell them apart.
/// </summary>
internal static class PacketDump
{
    public static string Describe(object? value)
    {
        var sb = new StringBuilder();
        Append(sb, value);
        return sb.ToString();
    }

    private static void Append(StringBuilder sb, object? value)
    {
        switch (value)
        {
            case null:
                sb.Append("null");
                return;
            case string s:
                sb.Append('"').Append(s).Append('"');
                return;
            case ReadOnlyMemory<byte> memory:
                sb.Append("0x").Append(Convert.ToHexString(memory.Span));
                return;
            case Enum or ValueType when value.GetType().IsPrimitive || value is Enum:
                sb.Append(Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture));
                return;
            case MqttProperties p when IsEmpty(p):
                sb.Append("null");
                return;
            case IEnumerable list:
                sb.Append('[');
                foreach (var item in list)
                {
                    Append(sb, item);
                    sb.Append(',');
                }
                sb.Append(']');
                return;
        }

        var type = value.GetType();
        sb.Append(type.Name).Append('{');
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            if (property.GetIndexParameters().Length > 0) continue;
            sb.Append(property.Name).Append('=');
            Append(sb, property.GetValue(value));
            sb.Append(';');
        }
        sb.Append('}');
    }

    private static bool IsEmpty(MqttProperties p) =>
        typeof(MqttProperties).GetProperties().All(property => property.GetValue(p) is null || property.GetValue(p) is ICollection { Count: 0 });
}
