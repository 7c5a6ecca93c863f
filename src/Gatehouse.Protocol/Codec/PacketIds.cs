namespace Gatehouse.Protocol.Codec;

internal static class PacketIds
{
    /// <summary>SUBSCRIBE, UNSUBSCRIBE and QoS>0 PUBLISH carry a non-zero Packet Identifier ([MQTT-2.2.1-3] in 5.0, [MQTT-2.3.1-1] in 3.1.1).</summary>
    public static ushort ReadNonZero(ref MqttBinaryReader r, string packetName)
    {
        var id = r.ReadUInt16();
        if (id == 0) ThrowHelper.Malformed($"{packetName} with Packet Identifier 0.");
        return id;
    }
}
