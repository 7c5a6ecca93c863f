using System.Net;

namespace Gatehouse.Security.Authentication;

/// <summary>
/// Secure by default: with <c>AllowAnonymous</c> unset, a client without credentials is accepted only when its
/// connection is loopback at both ends. A reverse proxy on the same machine makes every client look local: set
/// <c>--allow-anonymous false</c> behind one.
/// </summary>
public static class AnonymousPolicy
{
    public static bool Allows(bool? allowAnonymous, EndPoint? local, EndPoint? remote) =>
        allowAnonymous ?? (IsLoopback(local) && IsLoopback(remote));

    public static bool IsLoopback(EndPoint? endPoint)
    {
        var address = endPoint switch
        {
            IPEndPoint ip => ip.Address,
            _ => null,
        };
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
