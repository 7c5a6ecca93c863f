namespace Gatehouse.Hosting;

/// <summary>An invalid setting or an environment problem found at start-up. The message is one line for the operator.</summary>
public sealed class SettingsException : Exception
{
    public SettingsException(string message) : base(message) { }

    public SettingsException(string message, Exception innerException) : base(message, innerException) { }

    public SettingsException() { }

    internal static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
