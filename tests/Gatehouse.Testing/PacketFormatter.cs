using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;

namespace Gatehouse.Testing;

/// <summary>Human-readable one-line descriptions of packets for assertion messages.</summary>
public static class PacketFormatter
{
    public static string Describe(MqttPacket? packet)
    {
        if (packet is null) return "(none)";
        var sb = new StringBuilder(packet.Type.ToString().ToUpperInvariant());
        sb.Append(" {");
        var first = true;
        foreach (var property in packet.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.Name == nameof(MqttPacket.Type)) continue;
            var value = property.GetValue(packet);
            if (value is null) continue;
            sb.Append(first ? " " : ", ").Append(property.Name).Append('=').Append(Value(value));
            first = false;
        }
        return sb.Append(" }").ToString();
    }

    private static string Value(object value) => value switch
    {
        string s => $"\"{s}\"",
        ReasonCode rc => $"0x{(byte)rc:X2}",
        ReadOnlyMemory<byte> bytes => Bytes(bytes.Span),
        MqttProperties properties => Properties(properties),
        WillMessage will => $"Will{{ Topic=\"{will.Topic}\", Payload={Bytes(will.Payload.Span)}, QoS={(int)will.QoS}, Retain={will.Retain}, Properties={(will.Properties is null ? "null" : Properties(will.Properties))} }}",
        TopicSubscription s => $"({s.TopicFilter} q{(int)s.MaximumQoS} nl={s.NoLocal} rap={s.RetainAsPublished} rh={s.RetainHandling})",
        IEnumerable list => "[" + string.Join(", ", list.Cast<object>().Select(Value)) + "]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static string Properties(MqttProperties properties)
    {
        var parts = new List<string>();
        foreach (var property in typeof(MqttProperties).GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var value = property.GetValue(properties);
            if (value is not null) parts.Add($"{property.Name}={Value(value)}");
        }
        return "{" + string.Join(", ", parts) + "}";
    }

    private static string Bytes(ReadOnlySpan<byte> bytes)
    {
        var printable = true;
        foreach (var b in bytes)
        {
            if (b < 0x20 || b > 0x7E) { printable = false; break; }
        }
        if (printable && bytes.Length <= 80) return $"'{Encoding.ASCII.GetString(bytes)}'";
        return $"0x{MqttTestClient.Hex(bytes.Length > 40 ? bytes[..40] : bytes)}{(bytes.Length > 40 ? "..." : "")} ({bytes.Length} bytes)";
    }
}
