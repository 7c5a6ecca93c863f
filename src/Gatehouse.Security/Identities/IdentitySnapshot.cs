namespace Gatehouse.Security.Identities;

/// <summary>An immutable view of the identities for lookups on the CONNECT path; replaced whole on reload.</summary>
public sealed class IdentitySnapshot
{
    public static readonly IdentitySnapshot Empty = new([]);

    public IdentitySnapshot(IReadOnlyList<Identity> identities)
    {
        All = identities;
        ByName = identities.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var byThumbprint = new Dictionary<string, Identity>(StringComparer.OrdinalIgnoreCase);
        foreach (var identity in identities)
        {
            foreach (var thumbprint in identity.CertificateThumbprints) byThumbprint[Identity.NormalizeThumbprint(thumbprint)] = identity;
        }
        ByThumbprint = byThumbprint;
        Names = [.. ByName.Keys];
        Groups = identities.ToDictionary(i => i.Name, i => i.Groups, StringComparer.Ordinal);
    }

    public IReadOnlyList<Identity> All { get; }
    public IReadOnlyDictionary<string, Identity> ByName { get; }
    public IReadOnlyDictionary<string, Identity> ByThumbprint { get; }
    public IReadOnlyCollection<string> Names { get; }
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Groups { get; }
    public bool IsEmpty => All.Count == 0;
}
