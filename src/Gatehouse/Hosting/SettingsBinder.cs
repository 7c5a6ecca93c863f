using System.Collections;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Gatehouse.Hosting;

/// <summary>
/// Binds a configuration section onto a settings object strictly: an unknown key or a value that does not parse
/// is a <see cref="SettingsException"/> naming the key, the value and what was expected (the stock binder either
/// ignores the former or reports the latter with a type name).
/// </summary>
public static class SettingsBinder
{
    public static T Bind<T>(IConfiguration configuration, string sectionName) where T : class, new()
    {
        var target = new T();
        BindObject(configuration.GetSection(sectionName), target);
        return target;
    }

    private static void BindObject(IConfigurationSection section, object target)
    {
        var properties = target.GetType()
            .GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetIndexParameters().Length == 0)
            .ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);

        foreach (var child in section.GetChildren())
        {
            if (!properties.TryGetValue(child.Key, out var property))
                throw new SettingsException($"unknown setting {child.Path}");

            var type = property.PropertyType;
            if (IsScalar(type))
            {
                if (child.Value is null)
                {
                    if (child.GetChildren().Any())
                        throw new SettingsException($"{SettingNames.Describe(child.Path)} must be a single value, not a section");
                    continue;
                }
                if (property.SetMethod is null)
                    throw new SettingsException($"setting {child.Path} is read-only");
                property.SetValue(target, ConvertScalar(child.Path, child.Value, type));
            }
            else if (type.IsClass && !typeof(IEnumerable).IsAssignableFrom(type) && type.GetConstructor(Type.EmptyTypes) is not null)
            {
                var nested = property.GetValue(target) ?? Activator.CreateInstance(type)!;
                BindObject(child, nested);
                if (property.SetMethod is not null)
                    property.SetValue(target, nested);
            }
            else
            {
                // Collections and other shapes: the stock binder, with its message made one line.
                try
                {
                    property.SetValue(target, child.Get(type));
                }
                catch (InvalidOperationException ex)
                {
                    throw new SettingsException($"invalid value for {child.Path}: {SettingsException.OneLine(ex.Message)}", ex);
                }
            }
        }
    }

    private static bool IsScalar(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(TimeSpan);
    }

    internal static object? ConvertScalar(string path, string value, Type type)
    {
        var underlying = Nullable.GetUnderlyingType(type);
        if (underlying is not null)
        {
            if (value.Length == 0)
                return null;
            type = underlying;
        }

        if (type == typeof(string))
            return value;

        var text = value.Trim();
        if (type == typeof(bool))
        {
            return bool.TryParse(text, out var b) ? b : throw Invalid(path, value, "true or false");
        }
        if (type.IsEnum)
        {
            var names = Enum.GetNames(type);
            // "prefix-identity" names PrefixIdentity: hyphens are ignored.
            var name = Array.Find(names, n => string.Equals(n, text.Replace("-", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase));
            return name is not null
                ? Enum.Parse(type, name)
                : throw Invalid(path, value, "one of " + string.Join(", ", names.Select(KebabCase)));
        }
        if (IntegerRange(type) is var (min, max))
        {
            var wide = Type.GetTypeCode(type) is TypeCode.Int32 or TypeCode.Int64;
            var expected = wide ? "a whole number" : $"a whole number from {min} to {max}";
            if (!Int128.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
                throw Invalid(path, value, expected);
            if (n < min || n > max)
                throw Invalid(path, value, $"a whole number from {min} to {max}");
            return Type.GetTypeCode(type) == TypeCode.UInt64
                ? (ulong)n
                : Convert.ChangeType((long)n, type, CultureInfo.InvariantCulture);
        }
        if (type == typeof(double) || type == typeof(float) || type == typeof(decimal))
        {
            return decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
                ? Convert.ChangeType(d, type, CultureInfo.InvariantCulture)
                : throw Invalid(path, value, "a number");
        }
        if (type == typeof(TimeSpan))
        {
            return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var t) ? t : throw Invalid(path, value, "a time span such as 00:00:30");
        }
        if (type == typeof(char))
        {
            return text.Length == 1 ? text[0] : throw Invalid(path, value, "a single character");
        }
        throw new SettingsException($"setting {path} has an unsupported type {type.Name}");
    }

    private static string KebabCase(string name) =>
        string.Concat(name.Select((c, i) => char.IsUpper(c) && i > 0 ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    private static (Int128 Min, Int128 Max)? IntegerRange(Type type) => Type.GetTypeCode(type) switch
    {
        TypeCode.SByte => (sbyte.MinValue, sbyte.MaxValue),
        TypeCode.Byte => (byte.MinValue, byte.MaxValue),
        TypeCode.Int16 => (short.MinValue, short.MaxValue),
        TypeCode.UInt16 => (ushort.MinValue, ushort.MaxValue),
        TypeCode.Int32 => (int.MinValue, int.MaxValue),
        TypeCode.UInt32 => (uint.MinValue, uint.MaxValue),
        TypeCode.Int64 => (long.MinValue, long.MaxValue),
        TypeCode.UInt64 => (ulong.MinValue, ulong.MaxValue),
        _ => null,
    };

    private static SettingsException Invalid(string path, string value, string expected)
        => new($"invalid value '{value}' for {SettingNames.Describe(path)}: expected {expected}");
}
