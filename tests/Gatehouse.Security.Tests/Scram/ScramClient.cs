using System.Security.Cryptography;
using System.Text;

namespace Gatehouse.Security.Tests.Scram;

/// <summary>
/// The client side of SCRAM-SHA-256 (RFC 5802 section 3, RFC 7677), written independently of the server's code so the
/// tests check the server against the RFC, not against itself.
/// </summary>
internal sealed class ScramClient(string userName, string password, string? clientNonce = null)
{
    private const string Gs2Header = "n,,";
    private readonly string _clientNonce = clientNonce ?? Convert.ToBase64String(RandomNumberGenerator.GetBytes(18));
    private string _clientFirstBare = "";
    private byte[] _serverSignature = [];

    public string ClientFirstMessage()
    {
        _clientFirstBare = $"n={userName.Replace("=", "=3D", StringComparison.Ordinal).Replace(",", "=2C", StringComparison.Ordinal)},r={_clientNonce}";
        return Gs2Header + _clientFirstBare;
    }

    /// <summary>The client-final-message for <paramref name="serverFirst"/>; <paramref name="nonceOverride"/> lets a test send another nonce.</summary>
    public string ClientFinalMessage(string serverFirst, string? nonceOverride = null)
    {
        var attributes = serverFirst.Split(',').ToDictionary(a => a[..1], a => a[2..]);
        var nonce = attributes["r"];
        if (!nonce.StartsWith(_clientNonce, StringComparison.Ordinal)) throw new InvalidOperationException("server nonce does not extend the client nonce");
        var salt = Convert.FromBase64String(attributes["s"]);
        var iterations = int.Parse(attributes["i"], System.Globalization.CultureInfo.InvariantCulture);

        var saltedPassword = Hi(Encoding.UTF8.GetBytes(password), salt, iterations);
        var clientKey = HMACSHA256.HashData(saltedPassword, Encoding.ASCII.GetBytes("Client Key"));
        var storedKey = SHA256.HashData(clientKey);
        var withoutProof = $"c={Convert.ToBase64String(Encoding.ASCII.GetBytes(Gs2Header))},r={nonceOverride ?? nonce}";
        var authMessage = Encoding.UTF8.GetBytes(_clientFirstBare + "," + serverFirst + "," + withoutProof);
        var clientSignature = HMACSHA256.HashData(storedKey, authMessage);
        var proof = new byte[clientKey.Length];
        for (var i = 0; i < proof.Length; i++) proof[i] = (byte)(clientKey[i] ^ clientSignature[i]);
        var serverKey = HMACSHA256.HashData(saltedPassword, Encoding.ASCII.GetBytes("Server Key"));
        _serverSignature = HMACSHA256.HashData(serverKey, authMessage);
        return withoutProof + ",p=" + Convert.ToBase64String(proof);
    }

    /// <summary>True when the server-final-message proves the server knows the credential ("v=" ServerSignature).</summary>
    public bool VerifyServerFinal(string serverFinal) =>
        serverFinal.StartsWith("v=", StringComparison.Ordinal)
        && CryptographicOperations.FixedTimeEquals(Convert.FromBase64String(serverFinal[2..]), _serverSignature);

    /// <summary>Hi() of RFC 5802 section 2.2, written out (U1 = HMAC(str, salt + INT(1)), Ui = HMAC(str, Ui-1), XOR of all).</summary>
    private static byte[] Hi(byte[] password, byte[] salt, int iterations)
    {
        using var hmac = new HMACSHA256(password);
        var u = hmac.ComputeHash([.. salt, 0, 0, 0, 1]);
        var result = (byte[])u.Clone();
        for (var i = 1; i < iterations; i++)
        {
            u = hmac.ComputeHash(u);
            for (var j = 0; j < result.Length; j++) result[j] ^= u[j];
        }
        return result;
    }
}
