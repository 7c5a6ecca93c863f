using Gatehouse.Security.Authentication;

namespace Gatehouse.Security;

/// <summary>
/// What the broker asks security, and nothing more. A broker built without one (tests, embedding) skips every check
/// with a null test; <see cref="SecurityService"/> is the implementation the host composes.
/// </summary>
public interface IBrokerSecurity
{
    /// <summary>CONNECT, before any session is created or taken over [MQTT-3.1.4-2]. Denials are audited.</summary>
    ConnectDecision Authenticate(ConnectAttempt attempt);

    /// <summary>
    /// A new exchange for the CONNECT's Authentication Method, or null when the method is not offered (CONNACK 0x8C,
    /// [MQTT-4.12.0-1]). Its outcome goes to <see cref="Authenticate"/> as <see cref="ConnectAttempt.Enhanced"/>.
    /// </summary>
    IEnhancedAuthExchange? StartEnhancedAuthentication(string method);

    /// <summary>PUBLISH from a client; <paramref name="retain"/> needs the retain permission too. Denials are audited.</summary>
    bool MayPublish(ClientPrincipal principal, string topic, bool retain);

    /// <summary>One SUBSCRIBE filter (without a $share/{name}/ prefix). Denials are audited.</summary>
    bool MaySubscribe(ClientPrincipal principal, string filter);

    /// <summary>Per delivery: may this message reach this session? Cached per principal and topic.</summary>
    bool MayReceive(ClientPrincipal principal, string topic);

    DenyPublishAction DenyPublishAction { get; }

    /// <summary>A principal for a session that has none (recovered at start-up, owner known from the store).</summary>
    ClientPrincipal RecallPrincipal(string? identity, string clientId);

    /// <summary>The identity that owned the persistent session of <paramref name="clientId"/> before a restart.</summary>
    string? RecallSessionOwner(string clientId);

    /// <summary>Records the owner of a persistent session (null: the session ended), so it survives a restart.</summary>
    void RememberSessionOwner(string clientId, string? identity);

    /// <summary>A client tried to take over or resume a session another identity owns (refused with 0x85).</summary>
    void OnSessionOwnershipRefused(ClientPrincipal principal, string? owner);

    /// <summary>A PUBLISH over <see cref="ClientPrincipal.Quota"/>'s rate; audited at most once a second per identity.</summary>
    void OnRateLimited(ClientPrincipal principal, string topic, string outcome);

    /// <summary>A retained PUBLISH (empty payload = clear) against the principal's retained quota; false = 0x97, audited.</summary>
    bool TryRetain(ClientPrincipal principal, string topic, int payloadBytes);

    /// <summary>A session or subscription beyond the principal's quota (0x97). Audited.</summary>
    void OnQuotaExceeded(ClientPrincipal principal, string detail);
}
