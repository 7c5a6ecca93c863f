namespace Gatehouse.Protocol.Tests.Support;

internal static class Rejection
{
    public static void AssertRejected(byte[] bytes, ProtocolVersion? version, ReasonCode expected, uint maximumPacketSize = Wire.NoLimit)
    {
        var ex = Wire.DecodeFails(bytes, version, maximumPacketSize);
        Assert.True(expected == ex.ReasonCode, $"expected {expected}, got {ex.ReasonCode}: {ex.Message}");
    }
}
