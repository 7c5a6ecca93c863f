using Gatehouse.Security;
using Gatehouse.Security.Authentication;
using Gatehouse.Security.Authorization;

namespace Gatehouse.Hosting;

/// <summary>
/// The "Security" settings checked and loaded before anything listens: JWT key, ACL file (parsed once here so a broken
/// file stops start-up rather than starting a server with no rules), client CA and CRL.
/// </summary>
public sealed record SecurityPlan(SecurityOptions Options, JwtValidator? Jwt, ClientCertificateValidator? ClientCertificates)
{
    public static SecurityPlan Create(SecurityOptions options)
    {
        if (options.PasswordIterations < Security.Identities.PasswordHasher.MinIterations)
            throw new SettingsException($"Security:PasswordIterations must be at least {Security.Identities.PasswordHasher.MinIterations}, got {options.PasswordIterations}");
        if (options.ReloadIntervalMs is < 50 or > 60_000)
            throw new SettingsException($"Security:ReloadIntervalMs must be 50-60000, got {options.ReloadIntervalMs}");
        if (options.AuditRetentionRows < 0)
            throw new SettingsException($"Security:AuditRetentionRows must not be negative, got {options.AuditRetentionRows}");
        if (options.JwtClockSkewSeconds is < 0 or > 3600)
            throw new SettingsException($"Security:JwtClockSkewSeconds must be 0-3600, got {options.JwtClockSkewSeconds}");
        if (string.IsNullOrEmpty(options.ClientIdSeparator) && options.ClientIdRule == ClientIdRule.PrefixIdentity)
            throw new SettingsException("Security:ClientIdSeparator must not be empty with Security:ClientIdRule prefix-identity");
        var limits = options.Limits;
        if (limits.MessagesPerSecond < 0 || limits.MessagesBurst < 0 || limits.BytesPerSecond < 0 || limits.BytesBurst < 0 || limits.MaxSessions < 0 || limits.MaxSubscriptions < 0)
            throw new SettingsException("Security:Limits:* must not be negative (0 = no limit)");
        var brute = options.BruteForce;
        if (brute.MaxFailures < 1 || brute.WindowSeconds < 1 || brute.BanSeconds <= 0 || brute.MaxBanSeconds < brute.BanSeconds || brute.MaxTrackedKeys < 100)
            throw new SettingsException("Security:BruteForce: MaxFailures ≥ 1, WindowSeconds ≥ 1, BanSeconds > 0, MaxBanSeconds ≥ BanSeconds, MaxTrackedKeys ≥ 100");
        var rate = options.ConnectionRate;
        if (rate.PerListenerPerSecond < 0 || rate.PerListenerBurst < 0 || rate.PerAddressPerSecond < 0 || rate.PerAddressBurst < 0)
            throw new SettingsException("Security:ConnectionRate:* must not be negative (0 = no limit)");
        options.AclFile = Empty(options.AclFile);
        options.JwtKey = Empty(options.JwtKey);
        options.TlsClientCa = Empty(options.TlsClientCa);
        options.TlsCrl = Empty(options.TlsCrl);

        if (options.AclFile is { } aclFile)
        {
            if (!File.Exists(aclFile)) throw new SettingsException($"ACL file not found: {aclFile} ({SettingNames.Describe(SettingNames.AclFile)})");
            try
            {
                MosquittoAclFile.Load(aclFile);
            }
            catch (Exception ex) when (ex is FormatException or IOException or UnauthorizedAccessException)
            {
                throw new SettingsException($"invalid ACL file: {SettingsException.OneLine(ex.Message)}", ex);
            }
            options.AclFile = Path.GetFullPath(aclFile);
        }

        JwtValidator? jwt = null;
        if (options.JwtKey is { } keyFile)
        {
            try
            {
                jwt = new JwtValidator(JwtKey.Load(keyFile), Empty(options.JwtIssuer), Empty(options.JwtAudience),
                    TimeSpan.FromSeconds(options.JwtClockSkewSeconds), TimeProvider.System);
            }
            catch (ArgumentException ex)
            {
                throw new SettingsException(SettingsException.OneLine(ex.Message), ex);
            }
        }

        ClientCertificateValidator? clientCertificates = null;
        if (options.TlsClientCa is { } caFile)
        {
            try
            {
                clientCertificates = ClientCertificateValidator.Load(caFile, options.TlsCrl);
            }
            catch (ArgumentException ex)
            {
                throw new SettingsException(SettingsException.OneLine(ex.Message), ex);
            }
        }
        else if (options.TlsCrl is not null)
        {
            throw new SettingsException($"{SettingNames.Describe(SettingNames.TlsCrl)} is given without {SettingNames.Describe(SettingNames.TlsClientCa)}");
        }
        return new SecurityPlan(options, jwt, clientCertificates);
    }

    private static string? Empty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
