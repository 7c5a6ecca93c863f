using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Gatehouse.Protocol;
using Gatehouse.Security.Identities;

namespace Gatehouse.Security.Authentication;

/// <summary>
/// Authentication on CONNECT [MQTT-3.1.4-2], in this order:
/// <list type="number">
/// <item>an MQTT 5 enhanced authentication exchange (SCRAM-SHA-256), when the CONNECT carried a method: its verdict
///   decides; the CONNECT's user name, if any, must be the name it authenticated;</item>
/// <item>a client certificate (validated by the mTLS listener) maps to the identity holding its SHA-1 or SHA-256
///   thumbprint, else to the identity named like its subject CN (which need not be in the store);</item>
/// <item>a password that is a JWT (when a JWT key is configured) authenticates its "sub";</item>
/// <item>user name + password against the identity's PBKDF2 hash;</item>
/// <item>no credentials at all: anonymous, by <see cref="AnonymousPolicy"/>.</item>
/// </list>
/// A user name that disagrees with the identity a certificate or token established is refused. Disabled identities
/// get 0x87; wrong or unknown credentials 0x86 (the same code and a comparable time for an unknown user).
/// Then the client id must be one the identity may use (<see cref="ClientIdBinding"/>), else 0x85.
/// </summary>
public sealed class ConnectAuthenticator : IConnectAuthenticator
{
    private const int VerifiedCacheCapacity = 10_000;
    private static readonly string s_dummyHash = PasswordHasher.Hash("gatehouse-dummy-password", PasswordHasher.MinIterations * 10);

    private readonly Func<IdentitySnapshot> _identities;
    private readonly SecurityOptions _options;
    private readonly ClientIdBinding _binding;
    private readonly JwtValidator? _jwt;
    // identity → (hash it was verified against, HMAC of the password): reconnects skip the slow hash.
    private readonly ConcurrentDictionary<string, (string Hash, byte[] Mac)> _verified = new(StringComparer.Ordinal);
    private readonly byte[] _macKey = RandomNumberGenerator.GetBytes(32);

    public ConnectAuthenticator(SecurityOptions options, Func<IdentitySnapshot> identities, JwtValidator? jwt)
    {
        _options = options;
        _identities = identities;
        _jwt = jwt;
        _binding = new ClientIdBinding(options.ClientIdRule, options.ClientIdSeparator);
    }

    public ClientIdBinding Binding => _binding;

    public ConnectDecision Authenticate(ConnectAttempt attempt)
    {
        var snapshot = _identities();
        var decision = AuthenticateCredentials(attempt, snapshot);
        if (!decision.Allowed || attempt.ClientIdAssigned) return decision;
        var principal = decision.Principal!;
        if (_binding.Check(principal.Identity, attempt.ClientId, snapshot.Names) is { } refusal)
        {
            // [MQTT-3.2.2-?] 0x85 / return code 2: the id is not one this client may use.
            return ConnectDecision.Deny(ReasonCode.ClientIdentifierNotValid, refusal);
        }
        return decision;
    }

    private ConnectDecision AuthenticateCredentials(ConnectAttempt attempt, IdentitySnapshot snapshot)
    {
        var password = attempt.Password;
        var userName = string.IsNullOrEmpty(attempt.UserName) ? null : attempt.UserName;

        if (attempt.Enhanced is { } enhanced)
        {
            return AuthenticateEnhanced(attempt, enhanced, snapshot);
        }
        if (attempt.ClientCertificate is { } certificate)
        {
            return AuthenticateCertificate(attempt, certificate, userName, snapshot);
        }
        if (password is { } pwd && _jwt is not null && JwtValidator.LooksLikeJwt(pwd.Span))
        {
            if (!_jwt.TryValidate(Encoding.ASCII.GetString(pwd.Span), out var claims, out var error))
                return ConnectDecision.Deny(ReasonCode.BadUserNameOrPassword, "token refused: " + error);
            if (userName is not null && userName != claims!.Subject)
                return ConnectDecision.Deny(ReasonCode.BadUserNameOrPassword, $"user name '{userName}' does not match the token subject");
            if (snapshot.ByName.TryGetValue(claims!.Subject, out var known) && !known.Enabled)
                return ConnectDecision.Deny(ReasonCode.NotAuthorized, $"identity '{known.Name}' is disabled");
            // The connection lasts only as long as the token: the broker closes it once exp (and the skew) has passed.
            return ConnectDecision.Allow(NewPrincipal(claims.Subject, attempt, "jwt", claims.Groups, claims.ExpiresAt + _jwt.ClockSkew));
        }
        if (userName is not null)
        {
            if (password is not { } secret)
                return ConnectDecision.Deny(ReasonCode.BadUserNameOrPassword, $"no password for '{userName}'");
            if (!snapshot.ByName.TryGetValue(userName, out var identity) || identity.PasswordHash is null)
            {
                // Same cost as a real check, so timing does not reveal which names exist.
                PasswordHasher.Verify(secret.Span, s_dummyHash);
                return ConnectDecision.Deny(ReasonCode.BadUserNameOrPassword, $"unknown identity '{userName}' or no password set");
            }
            if (!VerifyPassword(identity, secret.Span))
                return ConnectDecision.Deny(ReasonCode.BadUserNameOrPassword, $"wrong password for '{userName}'");
            if (!identity.Enabled)
                return ConnectDecision.Deny(ReasonCode.NotAuthorized, $"identity '{identity.Name}' is disabled");
            return ConnectDecision.Allow(NewPrincipal(identity.Name, attempt, "password"));
        }
        if (password is not null)
            return ConnectDecision.Deny(ReasonCode.BadUserNameOrPassword, "password without a user name");
        if (!AnonymousPolicy.Allows(_options.AllowAnonymous, attempt.LocalEndPoint, attempt.RemoteAddress))
            return ConnectDecision.Deny(ReasonCode.NotAuthorized, "anonymous clients are not allowed here");
        return ConnectDecision.Allow(NewPrincipal(null, attempt, "anonymous"));
    }

    private static ConnectDecision AuthenticateEnhanced(ConnectAttempt attempt, EnhancedAuthResult enhanced, IdentitySnapshot snapshot)
    {
        if (!enhanced.Verified)
            return ConnectDecision.Deny(ReasonCode.BadUserNameOrPassword, $"{enhanced.Method}: {enhanced.FailureReason}");
        var name = enhanced.UserName!;
        if (!string.IsNullOrEmpty(attempt.UserName) && attempt.UserName != name)
            return ConnectDecision.Deny(ReasonCode.BadUserNameOrPassword, $"user name '{attempt.UserName}' does not match the {enhanced.Method} identity '{name}'");
        if (!snapshot.ByName.TryGetValue(name, out var identity))
            return ConnectDecision.Deny(ReasonCode.BadUserNameOrPassword, $"unknown identity '{name}'");
        if (!identity.Enabled)
            return ConnectDecision.Deny(ReasonCode.NotAuthorized, $"identity '{name}' is disabled");
        return ConnectDecision.Allow(NewPrincipal(name, attempt, enhanced.Method.ToLowerInvariant()));
    }

    private static ConnectDecision AuthenticateCertificate(ConnectAttempt attempt, X509Certificate2 certificate, string? userName, IdentitySnapshot snapshot)
    {
        Identity? identity = null;
        if (snapshot.ByThumbprint.TryGetValue(certificate.Thumbprint, out var bySha1)) identity = bySha1;
        else if (snapshot.ByThumbprint.TryGetValue(certificate.GetCertHashString(HashAlgorithmName.SHA256), out var bySha256)) identity = bySha256;
        var name = identity?.Name ?? certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
        if (string.IsNullOrEmpty(name) || !Identity.IsValidName(name))
            return ConnectDecision.Deny(ReasonCode.NotAuthorized, $"certificate {certificate.Subject} maps to no identity");
        identity ??= snapshot.ByName.GetValueOrDefault(name);
        if (identity is { Enabled: false })
            return ConnectDecision.Deny(ReasonCode.NotAuthorized, $"identity '{name}' is disabled");
        if (userName is not null && userName != name)
            return ConnectDecision.Deny(ReasonCode.BadUserNameOrPassword, $"user name '{userName}' does not match the certificate identity '{name}'");
        return ConnectDecision.Allow(NewPrincipal(name, attempt, "certificate"));
    }

    private bool VerifyPassword(Identity identity, ReadOnlySpan<byte> password)
    {
        var mac = HMACSHA256.HashData(_macKey, password);
        if (_verified.TryGetValue(identity.Name, out var known) && known.Hash == identity.PasswordHash)
        {
            if (CryptographicOperations.FixedTimeEquals(known.Mac, mac)) return true;
        }
        if (!PasswordHasher.Verify(password, identity.PasswordHash!)) return false;
        if (_verified.Count >= VerifiedCacheCapacity) _verified.Clear();
        _verified[identity.Name] = (identity.PasswordHash!, mac);
        return true;
    }

    private static ClientPrincipal NewPrincipal(string? identity, ConnectAttempt attempt, string method, IReadOnlyList<string>? groups = null,
        DateTimeOffset? validUntil = null) =>
        new(identity, attempt.ClientId, groups, attempt.Listener, attempt.RemoteAddress, attempt.RemotePort, method, validUntil);
}
