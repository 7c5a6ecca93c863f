using Gatehouse.Testing;

namespace Gatehouse.Security.Tests.EndToEnd;

/// <summary>Server certificate and CRL changes picked up by a running server, without restart.</summary>
public sealed class TlsReloadEndToEndTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task A_replaced_server_certificate_is_used_by_new_handshakes_and_a_broken_one_is_not()
    {
        var data = SecureServer.NewDataDirectory();
        using var ca = new TestCa();
        var (a, aCert, aKey) = ca.Issue("CN=cert-a", server: true);
        var (b, bCert, bKey) = ca.Issue("CN=cert-b", server: true);
        var certPath = Path.Combine(data, "server.crt");
        var keyPath = Path.Combine(data, "server.key");
        await File.WriteAllTextAsync(certPath, aCert);
        await File.WriteAllTextAsync(keyPath, aKey);
        await using var server = await ServerProcess.StartAsync(new ServerProcessOptions
        {
            DataDirectory = data,
            Tls = true,
            Arguments = ["--tls-cert", certPath, "--tls-key", keyPath],
        });
        Assert.Equal(a.Thumbprint, (await ca.ServerCertificateAsync(server.TlsPort)).Thumbprint);

        // A broken certificate file (B's certificate with A's key) keeps A and says why.
        await File.WriteAllTextAsync(certPath, bCert);
        Assert.True(await server.WaitForOutputAsync("Server certificate not reloaded", Deadline), server.Output);
        Assert.Equal(a.Thumbprint, (await ca.ServerCertificateAsync(server.TlsPort)).Thumbprint);

        // The matching key arrives: B from the next handshake on.
        await File.WriteAllTextAsync(keyPath, bKey);
        Assert.True(await Eventually.Until(async () => (await ca.ServerCertificateAsync(server.TlsPort)).Thumbprint == b.Thumbprint, Deadline),
            server.Output);
        Assert.True(await server.WaitForOutputAsync("Server certificate reloaded: CN=cert-b", Deadline), server.Output);
    }

    [Fact]
    public async Task A_client_certificate_revoked_in_a_crl_written_after_start_up_is_refused()
    {
        var data = SecureServer.NewDataDirectory();
        using var ca = new TestCa();
        var (_, serverCert, serverKey) = ca.Issue("CN=localhost", server: true);
        var (client, _, _) = ca.Issue("CN=dev-crl", server: false);
        var (other, _, _) = ca.Issue("CN=dev-ok", server: false);
        string Write(string name, string text)
        {
            var path = Path.Combine(data, name);
            File.WriteAllText(path, text);
            return path;
        }
        var crlPath = Path.Combine(data, "ca.crl");
        await File.WriteAllBytesAsync(crlPath, ca.Crl()); // nothing revoked yet
        await using var server = await ServerProcess.StartAsync(new ServerProcessOptions
        {
            DataDirectory = data,
            Tls = true,
            Arguments = ["--tls-cert", Write("server.crt", serverCert), "--tls-key", Write("server.key", serverKey),
                "--tls-client-ca", Write("ca.crt", ca.CertificatePem), "--tls-crl", crlPath, "--allow-anonymous", "false"],
        });
        Assert.True(await ca.ConnectsAsync(server.TlsPort, client, "dev-crl"), server.Output);

        // Revoke dev-crl by writing a new CRL: refused from then on, the other certificate still accepted.
        await File.WriteAllBytesAsync(crlPath, ca.Crl(client));
        Assert.True(await Eventually.Until(async () => !await ca.ConnectsAsync(server.TlsPort, client, "dev-crl"), Deadline), server.Output);
        Assert.False(await ca.ConnectsAsync(server.TlsPort, client, "dev-crl"));
        Assert.True(await ca.ConnectsAsync(server.TlsPort, other, "dev-ok"), server.Output);
    }
}
