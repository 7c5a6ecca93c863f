using System.Net;
using System.Text;
using Gatehouse.Protocol;
using Gatehouse.Security.Audit;
using Gatehouse.Security.Authentication;
using Gatehouse.Security.Identities;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gatehouse.Security.Tests.Unit;

public sealed class AuthenticationTests
{
    private static readonly IPEndPoint Loopback = new(IPAddress.Loopback, 1883);
    private static readonly IPEndPoint LanServer = new(IPAddress.Parse("192.168.1.10"), 1883);
    private static readonly IPEndPoint LanClient = new(IPAddress.Parse("192.168.1.77"), 50000);

    private static ConnectAuthenticator Authenticator(SecurityOptions? options = null, params Identity[] identities)
    {
        var snapshot = new IdentitySnapshot(identities);
        return new ConnectAuthenticator(options ?? new SecurityOptions(), () => snapshot, jwt: null);
    }

    private static ConnectAttempt Attempt(string clientId, string? user = null, string? password = null,
        EndPoint? local = null, IPEndPoint? remote = null, bool assigned = false)
    {
        remote ??= new IPEndPoint(IPAddress.Loopback, 50000);
        return new(clientId, assigned, user, password is null ? (ReadOnlyMemory<byte>?)null : Encoding.UTF8.GetBytes(password), null, "tcp",
            remote.Address, remote.Port, local ?? Loopback);
    }

    private static Identity Dev1 { get; } = new() { Name = "dev1", PasswordHash = PasswordHasher.Hash("pw1", 1_000) };

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1", true)]
    [InlineData("::1", "::1", true)]
    [InlineData("::ffff:127.0.0.1", "::ffff:127.0.0.1", true)]
    [InlineData("192.168.1.10", "192.168.1.77", false)]
    [InlineData("127.0.0.1", "192.168.1.77", false)]
    [InlineData("192.168.1.10", "127.0.0.1", false)]
    [InlineData("0.0.0.0", "10.0.0.1", false)]
    public void By_default_anonymous_clients_are_accepted_only_when_both_ends_are_loopback(string local, string remote, bool allowed)
    {
        Assert.Equal(allowed, AnonymousPolicy.Allows(null, new IPEndPoint(IPAddress.Parse(local), 1883), IPAddress.Parse(remote)));
        Assert.True(AnonymousPolicy.Allows(true, new IPEndPoint(IPAddress.Parse(local), 1883), IPAddress.Parse(remote)));
        Assert.False(AnonymousPolicy.Allows(false, Loopback, Loopback.Address));
    }

    [Fact]
    public void Anonymous_client_from_the_network_is_refused_not_authorized()
    {
        var decision = Authenticator().Authenticate(Attempt("c1", local: LanServer, remote: LanClient));
        Assert.False(decision.Allowed);
        Assert.Equal(ReasonCode.NotAuthorized, decision.ReasonCode);
        Assert.True(Authenticator().Authenticate(Attempt("c1")).Allowed);
        Assert.True(Authenticator(new SecurityOptions { AllowAnonymous = true }).Authenticate(Attempt("c1", local: LanServer, remote: LanClient)).Allowed);
    }

    [Theory]
    [InlineData("192.168.1.77", "192.168.1.77:50000")]
    [InlineData("2001:db8::77", "[2001:db8::77]:50000")]
    [InlineData("::ffff:192.168.1.77", "[::ffff:192.168.1.77]:50000")]
    [InlineData(null, "unknown")]
    public async Task A_refused_connect_is_audited_with_the_peer_as_address_and_port(string? remote, string audited)
    {
        var audit = new MemoryAuditLog();
        await using var security = new SecurityService(new SecurityOptions { AllowAnonymous = false }, new MemoryIdentityStore(), audit,
            NullLoggerFactory.Instance);
        var attempt = Attempt("c1", local: LanServer) with { RemoteAddress = remote is null ? null : IPAddress.Parse(remote) };

        Assert.Equal(ReasonCode.NotAuthorized, security.Authenticate(attempt).ReasonCode);
        Assert.Equal(audited, Assert.Single(audit.ReadAudit(10)).RemoteAddress);
    }

    [Fact]
    public void The_principal_keeps_the_peer_address_and_port()
    {
        var principal = Authenticator().Authenticate(Attempt("c1", remote: new IPEndPoint(IPAddress.Loopback, 50001))).Principal!;
        Assert.Equal("127.0.0.1:50001", principal.RemoteAddress);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 50001), principal.RemoteEndPoint);
    }

    [Fact]
    public void Password_authentication_accepts_the_right_password_only()
    {
        var authenticator = Authenticator(null, Dev1);
        var ok = authenticator.Authenticate(Attempt("dev1", "dev1", "pw1", LanServer, LanClient));
        Assert.True(ok.Allowed);
        Assert.Equal("dev1", ok.Principal!.Identity);
        Assert.Equal(ReasonCode.BadUserNameOrPassword, authenticator.Authenticate(Attempt("dev1", "dev1", "wrong")).ReasonCode);
        Assert.Equal(ReasonCode.BadUserNameOrPassword, authenticator.Authenticate(Attempt("ghost", "ghost", "pw1")).ReasonCode);
        Assert.Equal(ReasonCode.BadUserNameOrPassword, authenticator.Authenticate(Attempt("dev1", "dev1")).ReasonCode);
        // Verified again from the cache: still only the right password.
        Assert.True(authenticator.Authenticate(Attempt("dev1", "dev1", "pw1")).Allowed);
        Assert.False(authenticator.Authenticate(Attempt("dev1", "dev1", "pw2")).Allowed);
    }

    [Fact]
    public void Disabled_identity_is_not_authorized()
    {
        var decision = Authenticator(null, Dev1 with { Enabled = false }).Authenticate(Attempt("dev1", "dev1", "pw1"));
        Assert.Equal(ReasonCode.NotAuthorized, decision.ReasonCode);
    }

    [Theory]
    [InlineData(ClientIdRule.PrefixIdentity, "dev1", true)]
    [InlineData(ClientIdRule.PrefixIdentity, "dev1-sensor", true)]
    [InlineData(ClientIdRule.PrefixIdentity, "dev10", false)]
    [InlineData(ClientIdRule.PrefixIdentity, "dev1-", false)]
    [InlineData(ClientIdRule.PrefixIdentity, "other", false)]
    [InlineData(ClientIdRule.PrefixIdentity, "dev1-x-y", false)] // belongs to identity dev1-x (longest prefix)
    [InlineData(ClientIdRule.EqualsIdentity, "dev1", true)]
    [InlineData(ClientIdRule.EqualsIdentity, "dev1-sensor", false)]
    [InlineData(ClientIdRule.Any, "anything", true)]
    public void Client_id_binding(ClientIdRule rule, string clientId, bool allowed)
    {
        var other = new Identity { Name = "dev1-x", PasswordHash = PasswordHasher.Hash("pw", 1_000) };
        var authenticator = Authenticator(new SecurityOptions { ClientIdRule = rule }, Dev1, other);
        var decision = authenticator.Authenticate(Attempt(clientId, "dev1", "pw1"));
        Assert.Equal(allowed, decision.Allowed);
        if (!allowed) Assert.Equal(ReasonCode.ClientIdentifierNotValid, decision.ReasonCode);
    }

    [Fact]
    public void Anonymous_clients_cannot_use_a_client_id_that_belongs_to_an_identity()
    {
        var authenticator = Authenticator(null, Dev1);
        Assert.Equal(ReasonCode.ClientIdentifierNotValid, authenticator.Authenticate(Attempt("dev1")).ReasonCode);
        Assert.Equal(ReasonCode.ClientIdentifierNotValid, authenticator.Authenticate(Attempt("dev1-cam")).ReasonCode);
        Assert.True(authenticator.Authenticate(Attempt("visitor")).Allowed);
    }

    [Fact]
    public void Server_assigned_client_ids_skip_the_binding_rule()
    {
        Assert.True(Authenticator(null, Dev1).Authenticate(Attempt("gh-123", "dev1", "pw1", assigned: true)).Allowed);
    }

    [Fact]
    public void Jwt_password_authenticates_its_subject_and_the_user_name_must_match()
    {
        var secret = Encoding.UTF8.GetBytes("0123456789abcdef0123456789abcdef-secret");
        var now = DateTimeOffset.UtcNow;
        var jwt = new JwtValidator(JwtKey.Hmac(secret), null, null, TimeSpan.Zero, TimeProvider.System);
        var snapshot = new IdentitySnapshot([]);
        var authenticator = new ConnectAuthenticator(new SecurityOptions(), () => snapshot, jwt);
        var token = JwtValidatorTests.Hs256(new { sub = "dev7", exp = now.AddMinutes(5).ToUnixTimeSeconds() }, secret);
        var expired = JwtValidatorTests.Hs256(new { sub = "dev7", exp = now.AddMinutes(-5).ToUnixTimeSeconds() }, secret);

        Assert.Equal("dev7", authenticator.Authenticate(Attempt("dev7", null, token)).Principal?.Identity);
        Assert.True(authenticator.Authenticate(Attempt("dev7", "dev7", token)).Allowed);
        Assert.Equal(ReasonCode.BadUserNameOrPassword, authenticator.Authenticate(Attempt("dev7", "admin", token)).ReasonCode);
        Assert.Equal(ReasonCode.BadUserNameOrPassword, authenticator.Authenticate(Attempt("dev7", null, expired)).ReasonCode);
        Assert.Equal(ReasonCode.ClientIdentifierNotValid, authenticator.Authenticate(Attempt("dev8", null, token)).ReasonCode);
    }

    [Fact]
    public void Revocation_is_detected_for_disable_remove_and_credential_changes()
    {
        var identity = Dev1 with { CertificateThumbprints = ["AA"] };
        Assert.True(identity.IsRevokedBy(null));
        Assert.True(identity.IsRevokedBy(identity with { Enabled = false }));
        Assert.True(identity.IsRevokedBy(identity with { PasswordHash = PasswordHasher.Hash("new", 1_000) }));
        Assert.True(identity.IsRevokedBy(identity with { CertificateThumbprints = [] }));
        Assert.False(identity.IsRevokedBy(identity with { Groups = ["g"] }));
        Assert.False(identity.IsRevokedBy(identity with { CertificateThumbprints = ["AA", "BB"] }));
    }
}
