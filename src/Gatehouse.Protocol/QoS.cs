namespace Gatehouse.Protocol;

public enum QoS : byte
{
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}
