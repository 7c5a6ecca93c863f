using System.Net;
using System.Net.Sockets;
using Gatehouse.Bench;

namespace Gatehouse.Bench.Tests;

/// <summary>
/// With --source-ips the generator binds each socket to a 127.0.0.x address before connecting. Binding with port 0 made
/// the kernel search for a port free for every destination at bind time, a search that grew with the ports in use:
/// 19,000 connections over two addresses opened at 1.4-2.1k per second. The port is now left to connect().
/// </summary>
public sealed class SourceAddressTests
{
    [Fact]
    public async Task A_bound_source_address_leaves_the_port_to_connect_and_is_used()
    {
        if (!OperatingSystem.IsLinux()) return; // the option is Linux's; elsewhere bind picks the port as before

        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var source = IPAddress.Parse("127.0.0.2");

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        BenchConnection.BindSource(socket, source);
        Assert.Equal(0, ((IPEndPoint)socket.LocalEndPoint!).Port); // no port taken at bind

        await socket.ConnectAsync(listener.LocalEndPoint!);
        // Seen from the listener (the socket keeps the endpoint it read after bind): the bound address, a real port.
        using var accepted = await listener.AcceptAsync();
        var peer = (IPEndPoint)accepted.RemoteEndPoint!;
        Assert.Equal(source, peer.Address);
        Assert.NotEqual(0, peer.Port);
    }
}
