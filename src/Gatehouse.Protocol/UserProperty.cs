namespace Gatehouse.Protocol;

/// <summary>A name/value pair; order and duplicates are significant [MQTT-3.3.2-17].</summary>
public readonly record struct UserProperty(string Name, string Value);
