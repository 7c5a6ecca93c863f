using System.Net.Sockets;
using System.Text.RegularExpressions;
using Gatehouse.Hosting;
using Gatehouse.Protocol;
using Gatehouse.Testing;

namespace Gatehouse.Host.Tests.Hosting;

/// <summary>
/// The open-file limit caps connections: past it accept() fails and the runtime, unable to open even its own assembly
/// files, aborts the process. Clients beyond the cap are refused with a reason code and the broker keeps serving.
/// </summary>
public sealed partial class DescriptorBudgetTests
{
    [Theory]
    [InlineData("Max open files            20000                20000                files     ", 20000L)]
    [InlineData("Max open files            1024                 524288               files", 1024L)]
    [InlineData("Max open files            unlimited            unlimited            files", null)]
    [InlineData("Max processes             96367                96367                processes", null)]
    public void Parse_reads_the_soft_limit_of_the_open_files_line(string line, long? expected) =>
        Assert.Equal(expected, DescriptorBudget.Parse(line));

    [Fact]
    public void Caps_leave_the_descriptors_in_use_plus_headroom_and_room_for_refusals()
    {
        var budget = new DescriptorBudget(OpenFileLimit: 20_000, InUse: 150);
        Assert.Equal(20_000 - 150 - DescriptorBudget.Headroom, budget.ClientCap);
        Assert.Equal(budget.ClientCap + DescriptorBudget.RefusalRoom, budget.TransportCap);
    }

    [Fact]
    public void The_current_process_has_a_budget_on_linux()
    {
        var budget = DescriptorBudget.ForCurrentProcess();
        Assert.NotNull(budget);
        Assert.InRange(budget!.InUse, 3, budget.OpenFileLimit);
    }

    [Fact]
    public async Task The_server_grows_its_descriptor_table_for_its_connection_cap_before_it_accepts()
    {
        // ulimit -n sets soft and hard limits alike, so the runtime cannot raise it past this.
        await using var server = await ServerProcess.StartAsync(new ServerProcessOptions { OpenFileLimit = 6000 });
        // The kernel's own growth would leave it at the next power of two above the ~200 descriptors open at start.
        Assert.InRange(FdTableSize(server.ProcessId), 6000, 16384);
    }

    [Fact]
    public void Presizing_leaves_no_descriptor_open_and_a_table_at_least_that_large()
    {
        var limit = DescriptorBudget.ForCurrentProcess()!.OpenFileLimit;
        var wanted = (int)Math.Min(limit, Math.Max(4096, 2L * FdTableSize(Environment.ProcessId)));
        Assert.Equal(wanted, DescriptorTable.Presize(wanted, limit));
        Assert.InRange(FdTableSize(Environment.ProcessId), wanted, int.MaxValue);
        // Presize opens one descriptor numbered wanted - 1 or above. Not a count of all open descriptors: tests running in
        // parallel in this process open and close their own (low-numbered) ones meanwhile.
        Assert.DoesNotContain(OpenDescriptors(), fd => fd >= wanted - 1);
    }

    private static IEnumerable<int> OpenDescriptors() =>
        Directory.GetFileSystemEntries("/proc/self/fd").Select(path => int.Parse(Path.GetFileName(path), System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>The "FDSize" of /proc/PID/status: the slots in the process's descriptor table.</summary>
    private static int FdTableSize(int pid) =>
        int.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("FDSize:", StringComparison.Ordinal))["FDSize:".Length..].Trim(),
            System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task Clients_past_the_descriptor_cap_are_refused_with_a_reason_code_and_the_broker_survives_a_flood()
    {
        await using var server = await ServerProcess.StartAsync(new ServerProcessOptions { OpenFileLimit = 700 });
        await Eventually.Assert(() => CapLine().IsMatch(server.Output), "the start-up warning naming the connection cap");
        var cap = int.Parse(CapLine().Match(server.Output).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(cap, 1, 700 - DescriptorBudget.Headroom);

        var clients = new List<MqttTestClient>();
        try
        {
            for (var i = 0; i < cap; i++)
            {
                clients.Add(await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V311, $"fd-{i}"));
            }
            await using (var refused5 = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V500))
            {
                Assert.Equal(ReasonCode.ServerBusy, (await refused5.ConnectAsync("fd-over-5")).ReasonCode);
            }
            await using (var refused3 = await MqttTestClient.OpenAsync(server.MqttPort, ProtocolVersion.V311))
            {
                // 3.1.1 return code 3, which the codec reads as Server unavailable.
                Assert.Equal(ReasonCode.ServerUnavailable, (await refused3.ConnectAsync("fd-over-3")).ReasonCode);
            }

            // A flood of bare sockets, more than the limit leaves: the ones past Kestrel's cap are closed at once.
            var flood = new List<Socket>();
            try
            {
                for (var i = 0; i < 600; i++)
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    flood.Add(socket);
                    try { await socket.ConnectAsync("127.0.0.1", server.MqttPort); }
                    catch (SocketException) { }
                }
                await Task.Delay(500);
                Assert.False(server.HasExited, "the broker died under the flood:\n" + server.Output);
            }
            finally
            {
                foreach (var socket in flood) socket.Dispose();
            }

            await clients[0].DisposeAsync();
            clients.RemoveAt(0);
            await Eventually.Assert(async () =>
            {
                try
                {
                    await using var again = await MqttTestClient.ConnectNewAsync(server.MqttPort, ProtocolVersion.V500, "fd-again");
                    return true;
                }
                catch (MqttTestException) { return false; }
            }, "a client connects once one of the capped connections has left");
            Assert.False(server.HasExited);
            Assert.DoesNotContain("Out of memory", server.Output, StringComparison.Ordinal);
        }
        finally
        {
            foreach (var client in clients) await client.DisposeAsync();
        }
    }

    [GeneratedRegex(@"at most (\d+) clients are accepted")]
    private static partial Regex CapLine();
}
