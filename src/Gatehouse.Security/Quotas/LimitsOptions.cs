namespace Gatehouse.Security.Quotas;

/// <summary>
/// "Security:Limits": defaults for every identity (anonymous clients share one "(anonymous)" budget per client id).
/// An identity overrides any of them with metadata <c>limits.NAME=VALUE</c> (for example
/// <c>gatehouse identities add dev1 --meta limits.MessagesPerSecond=10</c>). 0 = no limit.
/// </summary>
public sealed class LimitsOptions
{
    /// <summary>PUBLISH packets per second per identity (all its connections together).</summary>
    public double MessagesPerSecond { get; set; }
    /// <summary>Bucket size for messages; 0 = one second's worth (at least 1).</summary>
    public double MessagesBurst { get; set; }
    /// <summary>Topic + payload bytes per second per identity.</summary>
    public double BytesPerSecond { get; set; }
    /// <summary>Bucket size for bytes; 0 = one second's worth.</summary>
    public double BytesBurst { get; set; }
    /// <summary>Client ids connected at the same time per identity (CONNACK 0x97 beyond).</summary>
    public int MaxSessions { get; set; }
    /// <summary>Subscriptions held by the identity's connected sessions (SUBACK 0x97 beyond).</summary>
    public int MaxSubscriptions { get; set; }
    /// <summary>Retained messages the identity has set (and not cleared or seen replaced) since start (PUBACK 0x97 beyond).</summary>
    public int MaxRetainedMessages { get; set; }
    /// <summary>Payload bytes of those retained messages.</summary>
    public long MaxRetainedBytes { get; set; }

    public static readonly string[] Names = [nameof(MessagesPerSecond), nameof(MessagesBurst), nameof(BytesPerSecond), nameof(BytesBurst),
        nameof(MaxSessions), nameof(MaxSubscriptions), nameof(MaxRetainedMessages), nameof(MaxRetainedBytes)];

    public bool IsUnlimited => MessagesPerSecond <= 0 && BytesPerSecond <= 0 && MaxSessions <= 0 && MaxSubscriptions <= 0 && !LimitsRetained;

    public bool LimitsRetained => MaxRetainedMessages > 0 || MaxRetainedBytes > 0;

    /// <summary>These defaults with the identity's <c>limits.*</c> metadata applied; an unknown or bad value throws FormatException.</summary>
    public LimitsOptions WithOverrides(IReadOnlyDictionary<string, string> metadata)
    {
        var result = (LimitsOptions)MemberwiseClone();
        foreach (var (key, value) in metadata)
        {
            if (!key.StartsWith("limits.", StringComparison.OrdinalIgnoreCase)) continue;
            var name = key["limits.".Length..];
            if (!double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var number) || number < 0)
                throw new FormatException($"metadata {key}={value}: expected a number ≥ 0");
            switch (name.ToLowerInvariant())
            {
                case "messagespersecond": result.MessagesPerSecond = number; break;
                case "messagesburst": result.MessagesBurst = number; break;
                case "bytespersecond": result.BytesPerSecond = number; break;
                case "bytesburst": result.BytesBurst = number; break;
                case "maxsessions": result.MaxSessions = (int)Math.Min(int.MaxValue, number); break;
                case "maxsubscriptions": result.MaxSubscriptions = (int)Math.Min(int.MaxValue, number); break;
                case "maxretainedmessages": result.MaxRetainedMessages = (int)Math.Min(int.MaxValue, number); break;
                case "maxretainedbytes": result.MaxRetainedBytes = (long)Math.Min(long.MaxValue, number); break;
                default: throw new FormatException($"unknown limit '{key}' (known: {string.Join(", ", Names.Select(n => "limits." + n))})");
            }
        }
        return result;
    }

    public override string ToString() =>
        $"messages/s {Show(MessagesPerSecond)} (burst {Show(MessagesBurst)}), bytes/s {Show(BytesPerSecond)} (burst {Show(BytesBurst)}), sessions {Show(MaxSessions)}, subscriptions {Show(MaxSubscriptions)}, retained {Show(MaxRetainedMessages)} / {Show(MaxRetainedBytes)} bytes";

    private static string Show(double value) => value <= 0 ? "-" : value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>"Security:BruteForce": failed-authentication throttling and the temporary ban list.</summary>
public sealed class BruteForceOptions
{
    public bool Enabled { get; set; } = true;
    /// <summary>Failed authentications from one address, or for one user name, within the window that start a ban.</summary>
    public int MaxFailures { get; set; } = 10;
    public int WindowSeconds { get; set; } = 300;
    /// <summary>The first ban; each further ban of the same key (while it is remembered) doubles, up to <see cref="MaxBanSeconds"/>.</summary>
    public double BanSeconds { get; set; } = 60;
    public double MaxBanSeconds { get; set; } = 3600;
    /// <summary>Keys tracked at most (oldest quiet entries are dropped first); bounds memory under a distributed attack.</summary>
    public int MaxTrackedKeys { get; set; } = 100_000;
}

/// <summary>"Security:ConnectionRate": CONNECTs per second per listener and per source address (CONNACK 0x9F beyond). 0 = off.</summary>
public sealed class ConnectionRateOptions
{
    public double PerListenerPerSecond { get; set; }
    /// <summary>0 = one second's worth.</summary>
    public double PerListenerBurst { get; set; }
    public double PerAddressPerSecond { get; set; }
    public double PerAddressBurst { get; set; }
}
