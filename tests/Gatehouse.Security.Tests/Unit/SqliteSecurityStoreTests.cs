using Gatehouse.Security.Audit;
using Gatehouse.Security.Authorization;
using Gatehouse.Security.Identities;
using Microsoft.Data.Sqlite;

namespace Gatehouse.Security.Tests.Unit;

public sealed class SqliteSecurityStoreTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "gatehouse-security-tests", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_directory, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public void Identities_rules_and_owners_survive_reopening_and_every_change_moves_the_counter()
    {
        using (var store = SqliteSecurityStore.Open(_directory))
        {
            var before = store.ChangeCounter;
            store.SaveIdentity(new Identity
            {
                Name = "dev1",
                Groups = ["a", "b"],
                Metadata = new Dictionary<string, string> { ["site"] = "north" },
                PasswordHash = PasswordHasher.Hash("pw", 1_000),
                CertificateThumbprints = ["aa:bb:cc"],
            });
            store.AddRule(new AclRule(AclSubjectKind.Group, "a", false, AclAccess.Subscribe, "x/#"));
            store.SetSessionOwner("dev1-s", "dev1");
            Assert.Equal(before + 2, store.ChangeCounter);
        }
        using (var store = SqliteSecurityStore.Open(_directory))
        {
            var identity = Assert.Single(store.ListIdentities());
            Assert.Equal(["a", "b"], identity.Groups);
            Assert.Equal("north", identity.Metadata["site"]);
            Assert.Equal(["AABBCC"], identity.CertificateThumbprints);
            Assert.True(PasswordHasher.Verify("pw", identity.PasswordHash!));
            var rule = Assert.Single(store.ListRules());
            Assert.Equal((AclSubjectKind.Group, "a", AclAccess.Subscribe, "x/#"), (rule.SubjectKind, rule.Subject, rule.Access, rule.Filter));
            Assert.Equal("dev1", store.LoadSessionOwners()["dev1-s"]);
            Assert.True(store.RemoveRule(rule.Id));
            Assert.True(store.RemoveIdentity("dev1"));
            Assert.False(store.RemoveIdentity("dev1"));
            Assert.Empty(store.ListIdentities());
        }
    }

    [Fact]
    public void Scram_credential_is_stored_and_added_to_databases_created_before_it()
    {
        using (var store = SqliteSecurityStore.Open(_directory)) { }
        var path = Path.Combine(_directory, SqliteSecurityStore.FileName);
        using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            // A version-1 database from before SCRAM: no scram_sha256 column.
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "ALTER TABLE identities DROP COLUMN scram_sha256";
            command.ExecuteNonQuery();
        }
        var scram = ScramCredential.Derive("pw", 1_000).Encode();
        using (var store = SqliteSecurityStore.Open(_directory))
        {
            store.SaveIdentity(new Identity { Name = "dev1", PasswordHash = PasswordHasher.Hash("pw", 1_000), ScramSha256 = scram });
        }
        using (var store = SqliteSecurityStore.Open(_directory))
        {
            Assert.Equal(scram, Assert.Single(store.ListIdentities()).ScramSha256);
        }
    }

    [Fact]
    public void Uses_wal_with_full_synchronous_and_refuses_an_unknown_format_version()
    {
        using (var store = SqliteSecurityStore.Open(_directory)) { }
        var path = Path.Combine(_directory, SqliteSecurityStore.FileName);
        using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA journal_mode";
            Assert.Equal("wal", command.ExecuteScalar());
            command.CommandText = "UPDATE format_version SET version = 99";
            command.ExecuteNonQuery();
        }
        var error = Assert.Throws<InvalidOperationException>(() => SqliteSecurityStore.Open(_directory));
        Assert.Contains("format version 99", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Audit_keeps_the_newest_rows_only()
    {
        using var store = SqliteSecurityStore.Open(_directory);
        var events = Enumerable.Range(0, 30)
            .Select(i => new AuditEvent(DateTimeOffset.UtcNow, AuditKind.AuthenticationFailed, "u" + i, "c", "r", "tcp", 0x86, null))
            .ToList();
        store.AppendAudit(events, retentionRows: 10);
        var kept = store.ReadAudit(100);
        Assert.Equal(10, kept.Count);
        Assert.Equal("u29", kept[^1].Identity);
        Assert.Equal("u20", kept[0].Identity);
    }
}
