namespace Gatehouse.Protocol.Packets;

public sealed class ConnectPacket : MqttPacket
{
    public override PacketType Type => PacketType.Connect;

    /// <summary>"MQTT" for 3.1.1 and 5.0, "MQIsdp" for 3.1.</summary>
    public string ProtocolName { get; set; } = "MQTT";
    public ProtocolVersion ProtocolVersion { get; set; } = ProtocolVersion.V500;
    /// <summary>Clean Start (5.0) / Clean Session (3.1.1).</summary>
    public bool CleanStart { get; set; }
    public ushort KeepAliveSeconds { get; set; }
    public string ClientId { get; set; } = "";
    public string? UserName { get; set; }
    public ReadOnlyMemory<byte>? Password { get; set; }
    public WillMessage? Will { get; set; }
    public MqttProperties? Properties { get; set; }

    /// <summary>Lent by a <see cref="ConnectPacketPool"/> and not given back yet. In the padding beside the small fields: no bigger packet.</summary>
    internal bool Rented;

    /// <summary>Back in its pool: nothing of the client it came from (id, credentials, will) stays reachable from it.</summary>
    internal void ResetForReuse()
    {
        ProtocolName = "MQTT";
        ProtocolVersion = ProtocolVersion.V500;
        CleanStart = false;
        KeepAliveSeconds = 0;
        ClientId = "";
        UserName = null;
        Password = null;
        Will = null;
        Properties = null;
    }
}

/// <summary>The Will Message carried by CONNECT.</summary>
public sealed class WillMessage
{
    public string Topic { get; set; } = "";
    public ReadOnlyMemory<byte> Payload { get; set; }
    public QoS QoS { get; set; }
    public bool Retain { get; set; }
    /// <summary>Will Properties (5.0): Will Delay Interval, expiry, content type, response topic, ...</summary>
    public MqttProperties? Properties { get; set; }
}
