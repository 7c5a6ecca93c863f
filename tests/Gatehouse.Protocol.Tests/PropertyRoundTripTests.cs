using Gatehouse.Protocol.Packets;
using Gatehouse.Protocol.Tests.Support;

namespace Gatehouse.Protocol.Tests;

public class PropertyRoundTripTests
{
    public static TheoryData<PropertyId, string> EveryAllowedPlacement()
    {
        var data = new TheoryData<PropertyId, string>();
        foreach (var (id, locations) in SamplePackets.AllowedIn)
        {
            foreach (var location in locations) data.Add(id, location);
        }
        return data;
    }

    public static TheoryData<string> EveryLocation() => [.. SamplePackets.Locations];

    [Fact]
    public void The_test_table_covers_every_property_identifier()
    {
        Assert.Equal(Enum.GetValues<PropertyId>().Order(), SamplePackets.AllowedIn.Keys.Order());
    }

    [Theory]
    [MemberData(nameof(EveryAllowedPlacement))]
    public void Each_property_round_trips_alone_in_every_packet_that_allows_it(PropertyId id, string location)
    {
        var properties = new MqttProperties();
        SamplePackets.Set(properties, id, location);
        AssertRoundTrip(SamplePackets.Make(location, ProtocolVersion.V500, properties));
    }

    [Theory]
    [MemberData(nameof(EveryLocation))]
    public void All_allowed_properties_round_trip_together(string location)
    {
        AssertRoundTrip(SamplePackets.Make(location, ProtocolVersion.V500, SamplePackets.AllFor(location)));
    }

    [Fact]
    public void The_writer_omits_properties_the_packet_does_not_allow()
    {
        // A will's properties reused for the PUBLISH: the Will Delay Interval has no place there.
        var publish = new PublishPacket
        {
            Topic = "t",
            Properties = new MqttProperties { WillDelayInterval = 5, SessionExpiryInterval = 9, ContentType = "x" },
        };
        var decoded = Assert.IsType<PublishPacket>(Wire.Decode(Wire.Encode(publish, ProtocolVersion.V500), ProtocolVersion.V500));
        Assert.Null(decoded.Properties!.WillDelayInterval);
        Assert.Null(decoded.Properties.SessionExpiryInterval);
        Assert.Equal("x", decoded.Properties.ContentType);
    }

    [Fact]
    public void User_properties_keep_order_and_duplicates()
    {
        var publish = new PublishPacket
        {
            Topic = "t",
            Properties = new MqttProperties { UserProperties = [new("k", "2"), new("k", "1"), new("a", "0"), new("k", "2")] },
        };
        var decoded = Assert.IsType<PublishPacket>(Wire.Decode(Wire.Encode(publish, ProtocolVersion.V500), ProtocolVersion.V500));
        Assert.Equal(publish.Properties.UserProperties, decoded.Properties!.UserProperties);
    }

    private static void AssertRoundTrip(MqttPacket packet)
    {
        var bytes = Wire.Encode(packet, ProtocolVersion.V500);
        var decoded = Wire.Decode(bytes, Wire.ReaderVersion(packet, ProtocolVersion.V500));
        Assert.Equal(PacketDump.Describe(packet), PacketDump.Describe(decoded));
        Assert.Equal(bytes, Wire.Encode(decoded, ProtocolVersion.V500));
    }
}
