using Gatehouse.Transport.Sockets;

namespace Gatehouse.Host.Tests.Transport;

/// <summary>Which I/O thread (readiness loop) a new socket is given.</summary>
public sealed class ReadinessLoopChoiceTests
{
    [Theory]
    [InlineData(new[] { 0, 0 }, 0)]
    [InlineData(new[] { 31, 0 }, 0)]
    [InlineData(new[] { 5, 0, 0, 0 }, 0)]
    public void A_small_broker_runs_on_the_first_loop(int[] registered, int expected)
    {
        // Packets are handled in arrival order only among the sockets of one loop.
        Assert.Equal(expected, ReadinessLoop.Choose(registered, firstLoopShare: 32));
    }

    [Theory]
    [InlineData(new[] { 32, 0 }, 1)]
    [InlineData(new[] { 32, 31 }, 1)]
    [InlineData(new[] { 32, 32 }, 0)]
    [InlineData(new[] { 40, 33 }, 1)]
    [InlineData(new[] { 32, 35, 33, 34 }, 0)]
    [InlineData(new[] { 50, 35, 33, 34 }, 2)]
    public void Past_its_share_the_least_busy_loop_gets_the_socket(int[] registered, int expected)
    {
        Assert.Equal(expected, ReadinessLoop.Choose(registered, firstLoopShare: 32));
    }

    [Fact]
    public void Sockets_end_up_even_over_the_loops()
    {
        // Connecting 1,000 sockets one after the other over 4 loops leaves each with 250, the first loop's head start
        // made up by the others.
        var registered = new int[4];
        for (var i = 0; i < 1000; i++) registered[ReadinessLoop.Choose(registered, firstLoopShare: 32)]++;
        Assert.Equal([250, 250, 250, 250], registered);
    }

    [Fact]
    public void Closed_sockets_make_room_where_they_were()
    {
        var registered = new[] { 100, 100 };
        registered[1] -= 10;
        for (var i = 0; i < 10; i++) registered[ReadinessLoop.Choose(registered, firstLoopShare: 32)]++;
        Assert.Equal([100, 100], registered);
    }
}
