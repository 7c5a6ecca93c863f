using System.Net;

namespace Gatehouse.Security.Authentication;

/// <summary>
/// Secure by default: with <c>AllowAnonymous</c> unset, a client without credentials is accepted only when its
/// connection is loopback at both ends. A reverse proxy on the same machine makes every client look local: set
/// <c>--allow-anonymous false</c> behind one.
/// </summary>
public static class AnonymousPolicy
{
    /// <param name="local">The endpoint the connection arrived on.</param>
    /// <param name="remote">The peer's address (its port does not matter).</param>
    public static bool Allows(bool? allowAnonymous, EndPoint? local, IPAddress? remote) =>
        allowAnonymous ?? (IsLoopback(local) && IsLoopback(remote));

    public static bool IsLoopback(EndPoint? endPoint) => IsLoopback((endPoint as IPEndPoint)?.Address);

    /// <summary>A loopback address, an IPv4-mapped one (a dual-mode listener's IPv4 peer) included; false for none.</summary>
    public static bool IsLoopback(IPAddress? address)
    {
        if (address is null) return false;
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        return IPAddress.IsLoopback(address);
    }

    /// <summary>The start-up line describing the policy.</summary>
    public static string Describe(bool? allowAnonymous) => allowAnonymous switch
    {
        true => "anonymous clients are accepted on every listener (--allow-anonymous true)",
        false => "anonymous clients are refused (--allow-anonymous false)",
        null => "anonymous clients are accepted only on loopback connections; clients from other addresses must authenticate (--allow-anonymous true|false changes this)",
    };
}
