using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Gatehouse.Host.Tests.Infrastructure;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;

namespace Gatehouse.Host.Tests.Transport;

/// <summary>
/// When the broker's reply to a packet waits for a group commit (a QoS 1 message queued for an offline persistent
/// session), the TCP acknowledgement of the packet goes out at once instead of riding on the reply: a client with
/// Nagle's algorithm on holds its next packets until then. Seen from the client: its data is acknowledged
/// (<c>TCP_INFO</c>'s unacked count drops to 0) while the PUBACK has not arrived yet. The commit's fsync makes that
/// window hundreds of microseconds; without the immediate acknowledgement it never opens, since the kernel, in
/// request-reply mode after the first exchanges, sends the acknowledgement with the PUBACK.
/// </summary>
public sealed class ImmediateAckTests
{
    private const int IpProtoTcp = 6;
    private const int TcpInfo = 11;
    private const int UnackedOffset = 24; // struct tcp_info: 8 bytes of flags, then rto, ato, snd_mss, rcv_mss, unacked

    [Fact]
    public async Task A_publish_whose_puback_waits_for_a_commit_is_acknowledged_before_the_puback()
    {
        await using var server = await ServerProcess.StartAsync(new ServerProcessOptions { Storage = "sqlite" });
        await using (var subscriber = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V311, "ack-sub", cleanStart: false))
        {
            await subscriber.SubscribeGrantedAsync("ack/#", QoS.AtLeastOnce);
            await subscriber.DisconnectAsync();
        }

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = false };
        await socket.ConnectAsync(IPAddress.Loopback, server.MqttPort);
        using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(MqttWire.Connect(ProtocolVersion.V311, "ack-pub"));
        MqttWire.AssertSuccessfulConnAck(await MqttWire.ReadPacketAsync(stream));

        // Request-reply exchanges first: the kernel leaves its initial quick-acknowledgement mode.
        ushort packetId = 0;
        for (var i = 0; i < 40; i++) await PublishAndReadPubAckAsync(socket, stream, ++packetId, watch: false);

        var earlyAcks = 0;
        const int Checked = 20;
        for (var i = 0; i < Checked; i++)
        {
            if (await PublishAndReadPubAckAsync(socket, stream, ++packetId, watch: true)) earlyAcks++;
        }
        Assert.True(earlyAcks >= Checked - 2, $"{earlyAcks} of {Checked} PUBLISHes were acknowledged before their PUBACK arrived");
    }

    /// <summary>Sends one QoS 1 PUBLISH and reads its PUBACK; with <paramref name="watch"/>, whether the data was acknowledged first.</summary>
    private static async Task<bool> PublishAndReadPubAckAsync(Socket socket, NetworkStream stream, ushort packetId, bool watch)
    {
        var publish = MqttTestClient.Encode(new PublishPacket
        {
            Topic = "ack/x",
            QoS = QoS.AtLeastOnce,
            PacketId = packetId,
            Payload = new byte[32],
        }, ProtocolVersion.V311);
        socket.Send(publish);
        var acknowledgedFirst = false;
        if (watch)
        {
            var info = new byte[104];
            var deadline = Stopwatch.StartNew();
            while (socket.Available == 0 && deadline.Elapsed < MqttWire.Timeout)
            {
                var length = socket.GetRawSocketOption(IpProtoTcp, TcpInfo, info);
                Assert.True(length >= UnackedOffset + 4, $"TCP_INFO returned {length} bytes");
                if (BinaryPrimitives.ReadUInt32LittleEndian(info.AsSpan(UnackedOffset)) == 0 && socket.Available == 0)
                {
                    acknowledgedFirst = true;
                    break;
                }
            }
        }
        var puback = await MqttWire.ReadPacketAsync(stream);
        Assert.Equal([0x40, 0x02, (byte)(packetId >> 8), (byte)packetId], puback);
        return acknowledgedFirst;
    }
}
