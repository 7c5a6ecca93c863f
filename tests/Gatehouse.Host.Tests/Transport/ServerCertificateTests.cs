using Gatehouse.Host.Tests.Infrastructure;
using Gatehouse.Transport.Tls;

namespace Gatehouse.Host.Tests.Transport;

public sealed class ServerCertificateTests
{
    private static TestCertificate Files => TestCertificate.Shared;

    [Fact]
    public void Loads_a_pem_certificate_with_a_separate_key()
    {
        var loaded = ServerCertificate.Load(Files.CertificatePem, Files.KeyPem);
        Assert.True(loaded.Certificate.HasPrivateKey);
        Assert.Equal(Files.Certificate.Thumbprint, loaded.Certificate.Thumbprint);
        Assert.Empty(loaded.Chain);
    }

    [Fact]
    public void Loads_a_combined_pem() => Assert.True(ServerCertificate.Load(Files.CombinedPem).Certificate.HasPrivateKey);

    [Fact]
    public void Loads_a_pfx_with_its_password()
        => Assert.True(ServerCertificate.Load(Files.Pfx, password: TestCertificate.PfxPassword).Certificate.HasPrivateKey);

    [Fact]
    public void A_pfx_with_the_wrong_password_is_refused()
        => Assert.StartsWith("cannot load certificate", Assert.Throws<CertificateLoadException>(() => ServerCertificate.Load(Files.Pfx, password: "nope")).Message, StringComparison.Ordinal);

    [Fact]
    public void A_pfx_with_a_key_file_is_refused()
        => Assert.Contains("carries its own key", Assert.Throws<CertificateLoadException>(() => ServerCertificate.Load(Files.Pfx, Files.KeyPem, TestCertificate.PfxPassword)).Message, StringComparison.Ordinal);

    [Fact]
    public void A_pem_certificate_without_a_key_is_refused()
        => Assert.Throws<CertificateLoadException>(() => ServerCertificate.Load(Files.CertificateOnlyPem));

    [Fact]
    public void A_key_that_does_not_match_is_refused()
    {
        using var other = TestCertificate.Create("CN=other");
        var error = Assert.Throws<CertificateLoadException>(() => ServerCertificate.Load(Files.CertificatePem, other.KeyPem));
        Assert.Contains("does not match", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_that_is_neither_pem_nor_pfx_is_refused()
    {
        var path = Path.Combine(Files.Directory, "garbage.bin");
        File.WriteAllBytes(path, [1, 2, 3, 4]);
        Assert.StartsWith("cannot load certificate", Assert.Throws<CertificateLoadException>(() => ServerCertificate.Load(path)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Intermediates_in_the_pem_file_become_the_chain()
    {
        using var intermediate = TestCertificate.Create("CN=intermediate");
        var path = Path.Combine(Files.Directory, "with-chain.pem");
        File.WriteAllText(path, File.ReadAllText(Files.CombinedPem) + File.ReadAllText(intermediate.CertificatePem));

        var loaded = ServerCertificate.Load(path);

        Assert.Equal(Files.Certificate.Thumbprint, loaded.Certificate.Thumbprint);
        Assert.Equal(intermediate.Certificate.Thumbprint, Assert.Single(loaded.Chain).Thumbprint);
    }
}
