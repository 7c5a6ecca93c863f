using System.Diagnostics;
using Gatehouse.Broker.Tests.BlackBox;
using Gatehouse.Protocol;
using Gatehouse.Protocol.Packets;
using Gatehouse.Testing;
using Xunit.Abstractions;

namespace Gatehouse.Broker.Tests.Durability;

/// <summary>
/// The data directory fills up while the broker runs (a 4 MiB tmpfs): clients get clear reason codes (5.0 PUBACK 0x80
/// with a reason string, CONNACK 0x88), the log says why, the broker recovers when space comes back, and nothing it had
/// acknowledged is lost, even across a SIGKILL. Needs root (mount); without it the test reports that it did not run.
/// </summary>
public sealed class FullDiskTests(ITestOutputHelper output) : BlackBoxTest(null, output)
{
    private readonly string _mount = Path.Combine(Path.GetTempPath(), "gatehouse-full-disk", Guid.NewGuid().ToString("N"));
    private bool _mounted;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Directory.CreateDirectory(_mount);
        _mounted = await RunAsync("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", _mount) == 0;
    }

    public override async Task DisposeAsync()
    {
        // The server stops (and its output is written) before its data directory is unmounted.
        await base.DisposeAsync();
        if (_mounted) await RunAsync("umount", _mount);
        try { Directory.Delete(_mount, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task A_full_data_directory_gives_reason_codes_and_loses_nothing_acknowledged()
    {
        if (!_mounted)
        {
            Output.WriteLine("NOT RUN: cannot mount a tmpfs here (needs root)");
            return;
        }
        var dataDir = Path.Combine(_mount, "data");
        var filler = Path.Combine(_mount, "filler");
        await File.WriteAllBytesAsync(filler, new byte[1024 * 1024]);
        var server = await StartServerAsync(new ServerProcessOptions { Storage = "sqlite", DataDirectory = dataDir });
        var port = server.MqttPort;

        var subscriberId = UniqueNames.ClientId("full-sub");
        var persistent = new MqttProperties { SessionExpiryInterval = 3600 };
        await using (var subscriber = await MqttTestClient.ConnectNewAsync(port, ProtocolVersion.V500, subscriberId, cleanStart: false, properties: persistent))
        {
            await subscriber.SubscribeGrantedAsync("full/#", QoS.AtLeastOnce);
            await subscriber.DisconnectAsync();
        }

        // Fill the disk with QoS 1 messages queued for the offline session until the broker refuses one.
        await using var publisher = await MqttTestClient.ConnectNewAsync(port, ProtocolVersion.V500, UniqueNames.ClientId("full-pub"));
        var payload = new byte[32 * 1024];
        var acknowledged = new List<int>();
        PubAckPacket? refused = null;
        for (var n = 1; n <= 400 && refused is null; n++)
        {
            var ack = (PubAckPacket)(await publisher.PublishAsync($"full/{n}", payload, QoS.AtLeastOnce))!;
            if (ack.ReasonCode == ReasonCode.Success) acknowledged.Add(n);
            else refused = ack;
        }
        Assert.NotNull(refused);
        Output.WriteLine($"{acknowledged.Count} messages acknowledged before the disk was full");
        Assert.Equal(ReasonCode.UnspecifiedError, refused.ReasonCode);
        Assert.Contains("cannot store", refused.Properties?.ReasonString ?? "", StringComparison.Ordinal);
        Assert.True(await server.WaitForOutputAsync("disk full", TimeSpan.FromSeconds(5)), "the log names the cause");

        // Take the last free blocks too. Small commits may still fit in log space the failed large one had allocated; once
        // that is used up a new persistent session cannot be made durable either: CONNACK 0x88 Server unavailable.
        var rest = Path.Combine(_mount, "rest");
        await using (var stream = new FileStream(rest, FileMode.Create))
        {
            try
            {
                while (true) stream.Write(new byte[4096]);
            }
            catch (IOException)
            {
                // ENOSPC: the disk is full.
            }
        }
        ConnAckPacket? connAck = null;
        var refusedId = "";
        for (var attempt = 1; attempt <= 200 && connAck?.ReasonCode != ReasonCode.ServerUnavailable; attempt++)
        {
            await using var client = await MqttTestClient.OpenAsync(port, ProtocolVersion.V500);
            refusedId = UniqueNames.ClientId("full-new");
            connAck = await client.ConnectAsync(refusedId, cleanStart: false, properties: persistent);
            Assert.True(connAck.ReasonCode is ReasonCode.Success or ReasonCode.ServerUnavailable, PacketFormatter.Describe(connAck));
        }
        Assert.Equal(ReasonCode.ServerUnavailable, connAck!.ReasonCode);

        // The publisher's connection stayed; with space back, the same broker stores again.
        File.Delete(filler);
        File.Delete(rest);
        await Eventually.Assert(async () =>
        {
            var ack = (PubAckPacket)(await publisher.PublishAsync("full/after", payload, QoS.AtLeastOnce))!;
            return ack.ReasonCode == ReasonCode.Success;
        }, "PUBACK succeeds once space is back");

        // The refused CONNECT left no session behind: connecting again is not told Session Present.
        await using (var again = await MqttTestClient.OpenAsync(port, ProtocolVersion.V500))
        {
            var reconnect = await again.ConnectAsync(refusedId, cleanStart: false, properties: persistent);
            Assert.Equal(ReasonCode.Success, reconnect.ReasonCode);
            Assert.False(reconnect.SessionPresent, "a session refused with 0x88 must not be resumed");
        }

        // Nothing acknowledged is lost, even across a crash.
        server.Kill();
        await server.RestartAsync();
        await using var resumed = await MqttTestClient.ConnectNewAsync(port, ProtocolVersion.V500, subscriberId, cleanStart: false, properties: persistent);
        var received = new HashSet<string>(StringComparer.Ordinal);
        var deadline = Stopwatch.StartNew();
        while ((!acknowledged.TrueForAll(n => received.Contains($"full/{n}")) || !received.Contains("full/after")) && deadline.Elapsed < TimeSpan.FromSeconds(20))
        {
            var publish = await resumed.ReceivePublishAsync();
            received.Add(publish.Topic);
            await resumed.AckAsync(publish);
        }
        var lost = acknowledged.Where(n => !received.Contains($"full/{n}")).ToList();
        Assert.True(lost.Count == 0, $"{lost.Count} acknowledged messages lost: {string.Join(", ", lost.Take(10))}");
        Assert.Contains("full/after", received);
    }

    private static async Task<int> RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        try
        {
            using var process = Process.Start(start)!;
            await process.WaitForExitAsync();
            return process.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return -1;
        }
    }
}
