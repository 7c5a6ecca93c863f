using System.Text;
using Gatehouse.Security.Authentication;
using Gatehouse.Security.Identities;
using Gatehouse.Security.Tests.Scram;

namespace Gatehouse.Security.Tests.Unit;

/// <summary>SCRAM-SHA-256 math and message handling, checked against RFC 7677 section 3's example.</summary>
public sealed class ScramTests
{
    private const string ClientNonce = "rOprNGfwEbeRWgbNEkqO";
    private const string ServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    private const string ClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    private const string ServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    private const string ClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    private const string ServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    private static readonly ScramCredential s_pencil =
        ScramCredential.Derive("pencil"u8, Convert.FromBase64String("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);

    private static ScramSha256Server Server(ScramCredential? credential = null) =>
        new(ScramSha256Server.MethodName, name => name == "user" ? credential ?? s_pencil : null, new byte[32], 4096, ServerNonce);

    private static string Text(byte[]? data) => Encoding.UTF8.GetString(data!);

    [Fact]
    public void Server_reproduces_the_rfc_7677_exchange()
    {
        var server = Server();
        var first = server.Step(Encoding.UTF8.GetBytes(ClientFirst));
        Assert.Equal(EnhancedAuthOutcome.Continue, first.Outcome);
        Assert.Equal(ServerFirst, Text(first.Data));
        var final = server.Step(Encoding.UTF8.GetBytes(ClientFinal));
        Assert.Equal(EnhancedAuthOutcome.Success, final.Outcome);
        Assert.Equal("user", final.UserName);
        Assert.Equal(ServerFinal, Text(final.Data));
    }

    [Fact]
    public void Test_client_reproduces_the_rfc_7677_exchange()
    {
        var client = new ScramClient("user", "pencil", ClientNonce);
        Assert.Equal(ClientFirst, client.ClientFirstMessage());
        Assert.Equal(ClientFinal, client.ClientFinalMessage(ServerFirst));
        Assert.True(client.VerifyServerFinal(ServerFinal));
        Assert.False(client.VerifyServerFinal("v=" + Convert.ToBase64String(new byte[32])));
    }

    [Fact]
    public void Credential_round_trips_and_keeps_neither_password_nor_salted_password()
    {
        var credential = ScramCredential.Derive("pencil", 4096);
        var encoded = credential.Encode();
        Assert.StartsWith("scram-sha-256$4096$", encoded, StringComparison.Ordinal);
        var parsed = ScramCredential.TryParse(encoded)!;
        Assert.Equal(credential.StoredKey, parsed.StoredKey);
        Assert.Equal(credential.ServerKey, parsed.ServerKey);
        Assert.DoesNotContain("pencil", encoded, StringComparison.Ordinal);
        Assert.Null(ScramCredential.TryParse("pbkdf2-sha256$1$AA==$AA=="));
        Assert.NotEqual(ScramCredential.Derive("pencil", 4096).Salt, credential.Salt);
    }

    [Theory]
    [InlineData("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "invalid SCRAM proof")]
    [InlineData("c=biws,r=rOprNGfwEbeRWgbNEkqOxxx,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "nonce mismatch")]
    [InlineData("c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "channel binding")]
    [InlineData("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", "malformed")]
    public void Bad_client_final_messages_fail(string clientFinal, string reason)
    {
        var server = Server();
        server.Step(Encoding.UTF8.GetBytes(ClientFirst));
        var step = server.Step(Encoding.UTF8.GetBytes(clientFinal));
        Assert.Equal(EnhancedAuthOutcome.Failure, step.Outcome);
        Assert.Contains(reason, step.Reason, StringComparison.Ordinal);
        Assert.Equal("user", step.UserName);
    }

    [Theory]
    [InlineData("p=tls-unique,,n=user,r=abc")]
    [InlineData("n,,m=ext,n=user,r=abc")]
    [InlineData("n,,r=abc")]
    [InlineData("x,,n=user,r=abc")]
    [InlineData("n,a=other,n=user,r=abc")]
    [InlineData("n,,n=us=41er,r=abc")]
    public void Bad_client_first_messages_fail(string clientFirst)
    {
        Assert.Equal(EnhancedAuthOutcome.Failure, Server().Step(Encoding.UTF8.GetBytes(clientFirst)).Outcome);
    }

    [Fact]
    public void Unknown_user_gets_a_stable_plausible_challenge_and_fails_at_the_proof()
    {
        var first = Server().Step(Encoding.UTF8.GetBytes("n,,n=nobody,r=abc"));
        Assert.Equal(EnhancedAuthOutcome.Continue, first.Outcome);
        var again = Server().Step(Encoding.UTF8.GetBytes("n,,n=nobody,r=abc"));
        Assert.Equal(Text(first.Data), Text(again.Data)); // same salt each time: no tell-tale randomness
        var server = Server();
        var challenge = Text(server.Step(Encoding.UTF8.GetBytes("n,,n=nobody,r=abc")).Data);
        var client = new ScramClient("nobody", "guess", "abc");
        client.ClientFirstMessage();
        var final = server.Step(Encoding.UTF8.GetBytes(client.ClientFinalMessage(challenge)));
        Assert.Equal(EnhancedAuthOutcome.Failure, final.Outcome);
        Assert.Equal("invalid SCRAM proof", final.Reason);
    }

    [Fact]
    public void A_password_change_revokes_the_scram_credential_too()
    {
        var identity = new Identity { Name = "dev1", ScramSha256 = ScramCredential.Derive("a", 1000).Encode() };
        Assert.True(identity.IsRevokedBy(identity with { ScramSha256 = ScramCredential.Derive("b", 1000).Encode() }));
    }
}
