namespace Gatehouse.Security.Authentication;

/// <summary>What one step of an MQTT 5 enhanced authentication exchange (section 4.12) decided.</summary>
public enum EnhancedAuthOutcome
{
    /// <summary>Send AUTH 0x18 (Continue authentication) with <see cref="EnhancedAuthStep.Data"/> and wait for the client's AUTH.</summary>
    Continue,
    /// <summary>The method verified the client as <see cref="EnhancedAuthStep.UserName"/>; CONNACK carries <see cref="EnhancedAuthStep.Data"/>.</summary>
    Success,
    /// <summary>Refuse the CONNECT (CONNACK 0x86) with <see cref="EnhancedAuthStep.Reason"/> as the audited reason.</summary>
    Failure,
}

public readonly record struct EnhancedAuthStep(EnhancedAuthOutcome Outcome, byte[]? Data, string? UserName, string Reason)
{
    public static EnhancedAuthStep Continue(byte[] data) => new(EnhancedAuthOutcome.Continue, data, null, "");
    public static EnhancedAuthStep Success(string userName, byte[] data) => new(EnhancedAuthOutcome.Success, data, userName, "");
    public static EnhancedAuthStep Failure(string reason, string? userName = null) => new(EnhancedAuthOutcome.Failure, null, userName, reason);
}

/// <summary>
/// One exchange of an enhanced authentication method, driven by the broker: the CONNECT's Authentication Data, then the
/// data of each AUTH 0x18 from the client, until <see cref="EnhancedAuthOutcome.Success"/> or a failure. Not thread-safe
/// (a connection's packets are handled one at a time).
/// </summary>
public interface IEnhancedAuthExchange
{
    /// <summary>The Authentication Method, as the client spelled it.</summary>
    string Method { get; }

    EnhancedAuthStep Step(ReadOnlySpan<byte> data);
}

/// <summary>The result of a successful or failed exchange, handed to <see cref="IBrokerSecurity.Authenticate"/>.</summary>
/// <param name="UserName">The identity the method authenticated (or claimed, on failure).</param>
/// <param name="Verified">The method verified the client; false = refuse with 0x86 and <paramref name="FailureReason"/>.</param>
public sealed record EnhancedAuthResult(string Method, string? UserName, bool Verified, string FailureReason = "");
