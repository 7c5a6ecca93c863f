namespace Gatehouse.Protocol;

/// <summary>The Protocol Level byte of CONNECT.</summary>
public enum ProtocolVersion : byte
{
    /// <summary>MQTT 3.1, protocol name "MQIsdp".</summary>
    V310 = 3,
    /// <summary>MQTT 3.1.1, protocol name "MQTT".</summary>
    V311 = 4,
    /// <summary>MQTT 5.0, protocol name "MQTT".</summary>
    V500 = 5,
}
