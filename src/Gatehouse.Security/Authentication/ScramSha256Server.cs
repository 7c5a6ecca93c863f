using System.Security.Cryptography;
using System.Text;
using Gatehouse.Security.Identities;

namespace Gatehouse.Security.Authentication;

/// <summary>
/// The server side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as an MQTT 5 enhanced authentication method:
/// client-first-message (CONNECT) → server-first-message (AUTH 0x18) → client-final-message (AUTH 0x18) →
/// server-final-message (CONNACK). No channel binding ("n" or "y" GS2 flag only); the user name is unescaped
/// (=2C, =3D) but not SASLprep-normalised. An unknown user gets a plausible server-first-message (salt derived from a
/// per-process key and the name) and fails at the proof, like a wrong password, so names cannot be probed.
/// </summary>
public sealed class ScramSha256Server : IEnhancedAuthExchange
{
    public const string MethodName = "SCRAM-SHA-256";
    private const int MaxMessageBytes = 4096;

    private readonly Func<string, ScramCredential?> _lookup;
    private readonly byte[] _fakeKey;
    private readonly int _fakeIterations;
    private readonly string? _fixedServerNonce;
    private int _state; // 0 = expecting client-first, 1 = expecting client-final, 2 = done
    private string? _userName;
    private ScramCredential? _credential;
    private bool _knownUser;
    private string _gs2Header = "";
    private string _clientFirstBare = "";
    private string _serverFirst = "";
    private string _nonce = "";

    /// <param name="lookup">The SCRAM credential of an identity name, or null (unknown, or no password set).</param>
    /// <param name="fakeKey">Per-process secret for the fake salts of unknown users.</param>
    /// <param name="serverNonce">Tests only (RFC 7677's vector); otherwise 24 random bytes.</param>
    public ScramSha256Server(string method, Func<string, ScramCredential?> lookup, byte[] fakeKey, int fakeIterations, string? serverNonce = null)
    {
        Method = method;
        _lookup = lookup;
        _fakeKey = fakeKey;
        _fakeIterations = fakeIterations;
        _fixedServerNonce = serverNonce;
    }

    public string Method { get; }

    public EnhancedAuthStep Step(ReadOnlySpan<byte> data)
    {
        if (data.Length > MaxMessageBytes) return Fail("SCRAM message too long");
        string message;
        try
        {
            message = new UTF8Encoding(false, true).GetString(data);
        }
        catch (ArgumentException)
        {
            return Fail("SCRAM message is not UTF-8");
        }
        return _state switch
        {
            0 => ClientFirst(message),
            1 => ClientFinal(message),
            _ => Fail("SCRAM exchange already finished"),
        };
    }

    private EnhancedAuthStep ClientFirst(string message)
    {
        // gs2-header = gs2-cbind-flag "," [authzid] "," ; client-first-message-bare = [m=...,] n=user,r=nonce[,ext]
        var first = message.IndexOf(',', StringComparison.Ordinal);
        var second = first < 0 ? -1 : message.IndexOf(',', first + 1);
        if (second < 0) return Fail("malformed client-first-message");
        var flag = message[..first];
        if (flag.StartsWith("p=", StringComparison.Ordinal)) return Fail("channel binding is not supported");
        if (flag is not ("n" or "y")) return Fail("malformed GS2 header");
        var authzid = message[(first + 1)..second];
        _gs2Header = message[..(second + 1)];
        _clientFirstBare = message[(second + 1)..];
        var attributes = _clientFirstBare.Split(',');
        if (attributes.Length < 2 || attributes[0].StartsWith("m=", StringComparison.Ordinal)) return Fail("unsupported mandatory extension");
        if (!attributes[0].StartsWith("n=", StringComparison.Ordinal) || !attributes[1].StartsWith("r=", StringComparison.Ordinal))
            return Fail("malformed client-first-message");
        var userName = Unescape(attributes[0][2..]);
        var clientNonce = attributes[1][2..];
        if (userName is null || userName.Length == 0) return Fail("malformed user name");
        if (clientNonce.Length == 0 || clientNonce.Any(c => c is < '!' or > '~' or ',')) return Fail("malformed nonce");
        if (authzid.Length > 0 && (!authzid.StartsWith("a=", StringComparison.Ordinal) || Unescape(authzid[2..]) != userName))
            return Fail("authorization identity differs from the user name", userName);
        _userName = userName;

        _credential = _lookup(userName);
        _knownUser = _credential is not null;
        _credential ??= FakeCredential(userName);
        _nonce = clientNonce + (_fixedServerNonce ?? Convert.ToBase64String(RandomNumberGenerator.GetBytes(24)));
        _serverFirst = $"r={_nonce},s={Convert.ToBase64String(_credential.Salt)},i={_credential.Iterations}";
        _state = 1;
        return EnhancedAuthStep.Continue(Encoding.UTF8.GetBytes(_serverFirst));
    }

    private EnhancedAuthStep ClientFinal(string message)
    {
        _state = 2;
        // client-final-message = c=base64(gs2-header),r=nonce[,ext],p=proof
        var proofAt = message.LastIndexOf(",p=", StringComparison.Ordinal);
        if (proofAt < 0) return Fail("malformed client-final-message", _userName);
        var withoutProof = message[..proofAt];
        var attributes = withoutProof.Split(',');
        if (attributes.Length < 2 || !attributes[0].StartsWith("c=", StringComparison.Ordinal) || !attributes[1].StartsWith("r=", StringComparison.Ordinal))
            return Fail("malformed client-final-message", _userName);
        if (attributes[0][2..] != Convert.ToBase64String(Encoding.UTF8.GetBytes(_gs2Header)))
            return Fail("channel binding data differs from the GS2 header", _userName);
        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(attributes[1][2..]), Encoding.UTF8.GetBytes(_nonce)))
            return Fail("nonce mismatch", _userName);
        byte[] proof;
        try
        {
            proof = Convert.FromBase64String(message[(proofAt + 3)..]);
        }
        catch (FormatException)
        {
            return Fail("malformed client proof", _userName);
        }
        var credential = _credential!;
        var authMessage = Encoding.UTF8.GetBytes(_clientFirstBare + "," + _serverFirst + "," + withoutProof);
        var clientSignature = HMACSHA256.HashData(credential.StoredKey, authMessage);
        var ok = proof.Length == clientSignature.Length;
        if (ok)
        {
            // ClientKey = ClientProof XOR ClientSignature; H(ClientKey) must equal StoredKey (compared in constant time).
            for (var i = 0; i < proof.Length; i++) proof[i] ^= clientSignature[i];
            ok = CryptographicOperations.FixedTimeEquals(SHA256.HashData(proof), credential.StoredKey) && _knownUser;
        }
        if (!ok) return Fail("invalid SCRAM proof", _userName);
        var serverSignature = HMACSHA256.HashData(credential.ServerKey, authMessage);
        return EnhancedAuthStep.Success(_userName!, Encoding.UTF8.GetBytes("v=" + Convert.ToBase64String(serverSignature)));
    }

    private ScramCredential FakeCredential(string userName)
    {
        var seed = HMACSHA256.HashData(_fakeKey, Encoding.UTF8.GetBytes(userName));
        return new ScramCredential(_fakeIterations, seed[..16], RandomNumberGenerator.GetBytes(32), RandomNumberGenerator.GetBytes(32));
    }

    private EnhancedAuthStep Fail(string reason, string? userName = null)
    {
        _state = 2;
        return EnhancedAuthStep.Failure(reason, userName);
    }

    /// <summary>saslname: "=2C" → ",", "=3D" → "="; any other "=" is malformed (null).</summary>
    private static string? Unescape(string saslName)
    {
        if (!saslName.Contains('=', StringComparison.Ordinal)) return saslName;
        var builder = new StringBuilder(saslName.Length);
        for (var i = 0; i < saslName.Length; i++)
        {
            if (saslName[i] != '=') { builder.Append(saslName[i]); continue; }
            if (i + 2 >= saslName.Length) return null;
            var code = saslName.Substring(i + 1, 2);
            if (code == "2C") builder.Append(',');
            else if (code == "3D") builder.Append('=');
            else return null;
            i += 2;
        }
        return builder.ToString();
    }
}
