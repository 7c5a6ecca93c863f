namespace Gatehouse.Protocol;

/// <summary>
/// Raised by the codec and the channel when the peer broke the protocol. The reason code is what an MQTT 5
/// peer is told in the DISCONNECT (or CONNACK) before the connection closes; MQTT 3 peers are just closed.
/// </summary>
public sealed class MqttProtocolException : Exception
{
    public MqttProtocolException(ReasonCode reasonCode, string message) : base(message) => ReasonCode = reasonCode;

    public ReasonCode ReasonCode { get; }

    /// <summary>For a CONNECT that failed after its protocol level was read: the version the client declared.</summary>
    public ProtocolVersion? ConnectVersion { get; set; }

    public static MqttProtocolException Malformed(string message) => new(ReasonCode.MalformedPacket, message);

    public static MqttProtocolException ProtocolError(string message) => new(ReasonCode.ProtocolError, message);
}
