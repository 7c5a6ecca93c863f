using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using Gatehouse.Protocol.Codec;
using Gatehouse.Protocol.Packets;
using Gatehouse.Protocol.Tests.Support;
using Xunit.Abstractions;

namespace Gatehouse.Protocol.Tests;

/// <summary>
/// Time-bounded random testing of the reader. GATEHOUSE_FUZZ_SECONDS sets the budget (default 5),
/// GATEHOUSE_FUZZ_SEED replays a run; the seed is printed and included in any failure message.
/// </summary>
public class FuzzTests(ITestOutputHelper output)
{
    private static readonly ProtocolVersion?[] ReaderVersions = [null, ProtocolVersion.V310, ProtocolVersion.V311, ProtocolVersion.V500];

    [Fact]
    public void Random_and_mutated_input_yields_a_packet_more_data_or_MqttProtocolException_only()
    {
        var seconds = double.TryParse(Environment.GetEnvironmentVariable("GATEHOUSE_FUZZ_SECONDS"), NumberStyles.Float, CultureInfo.InvariantCulture, out var s) ? s : 5;
        var seed = int.TryParse(Environment.GetEnvironmentVariable("GATEHOUSE_FUZZ_SEED"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var fixedSeed)
            ? fixedSeed
            : Environment.TickCount;
        output.WriteLine($"fuzz seed {seed} (replay with GATEHOUSE_FUZZ_SEED={seed}), budget {seconds} s");

        var random = new Random(seed);
        var corpus = SamplePackets.Versions
            .SelectMany(v => SamplePackets.All(v).Select(p => Wire.Encode(p.Packet, v)))
            .ToArray();

        var clock = Stopwatch.StartNew();
        long iterations = 0, decoded = 0, rejected = 0;
        byte[] input = [];
        try
        {
            while (clock.Elapsed.TotalSeconds < seconds)
            {
                input = iterations % 8 == 0 ? RandomBytes(random) : Mutate(corpus[random.Next(corpus.Length)], random);
                foreach (var version in ReaderVersions)
                {
                    switch (TryDecode(input, version, out var packet))
                    {
                        case Outcome.Packet:
                            decoded++;
                            AssertReEncodes(packet!, version);
                            break;
                        case Outcome.Rejected:
                            rejected++;
                            break;
                    }
                }
                iterations++;
            }
        }
        catch (Exception ex) when (ex is not MqttProtocolException)
        {
            Assert.Fail($"fuzz seed {seed}, iteration {iterations}, input {Convert.ToHexString(input)}: {ex}");
        }
        output.WriteLine($"{iterations} inputs, {decoded} decoded, {rejected} rejected");
        Assert.True(iterations > 0);
    }

    private enum Outcome
    {
        Packet,
        NeedMore,
        Rejected,
    }

    private static Outcome TryDecode(byte[] input, ProtocolVersion? version, out MqttPacket? packet)
    {
        packet = null;
        try
        {
            var sequence = new ReadOnlySequence<byte>(input);
            return PacketReader.TryRead(ref sequence, version, 1 << 20, out packet) ? Outcome.Packet : Outcome.NeedMore;
        }
        catch (MqttProtocolException)
        {
            return Outcome.Rejected;
        }
    }

    /// <summary>A decoded packet re-encodes to bytes that decode to the same packet and re-encode identically.</summary>
    private static void AssertReEncodes(MqttPacket packet, ProtocolVersion? readerVersion)
    {
        var version = packet is ConnectPacket connect ? connect.ProtocolVersion : readerVersion!.Value;
        var bytes = Wire.Encode(packet, version);
        var again = Wire.Decode(bytes, readerVersion);
        Assert.Equal(PacketDump.Describe(packet), PacketDump.Describe(again));
        Assert.Equal(bytes, Wire.Encode(again, version));
    }

    private static byte[] RandomBytes(Random random)
    {
        var bytes = new byte[random.Next(0, 64)];
        random.NextBytes(bytes);
        if (bytes.Length > 1 && random.Next(2) == 0)
        {
            // Plausible fixed header so the body parsers get exercised, not just the header checks.
            bytes[0] = (byte)((random.Next(1, 16) << 4) | (random.Next(4) == 0 ? random.Next(16) : 0));
            bytes[1] = (byte)(bytes.Length - 2 < 128 ? bytes.Length - 2 : 127);
        }
        return bytes;
    }

    private static byte[] Mutate(byte[] original, Random random)
    {
        var bytes = (byte[])original.Clone();
        var mutations = random.Next(1, 4);
        for (var m = 0; m < mutations && bytes.Length > 0; m++)
        {
            switch (random.Next(7))
            {
                case 0: // bit flip
                    bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                    break;
                case 1: // truncation
                    bytes = bytes[..random.Next(bytes.Length)];
                    break;
                case 2: // remaining length corruption, keeping the rest
                    if (bytes.Length > 1) bytes[1] = (byte)random.Next(256);
                    break;
                case 3: // interesting byte anywhere
                    bytes[random.Next(bytes.Length)] = Interesting[random.Next(Interesting.Length)];
                    break;
                case 4: // delete a byte and fix up a one-byte remaining length
                    var at = random.Next(bytes.Length);
                    bytes = [.. bytes[..at], .. bytes[(at + 1)..]];
                    FixLength(bytes);
                    break;
                case 5: // insert a byte and fix up the length
                    var pos = random.Next(1, bytes.Length + 1);
                    bytes = [.. bytes[..pos], (byte)random.Next(256), .. bytes[pos..]];
                    FixLength(bytes);
                    break;
                default: // corrupt a byte inside the body (length prefixes, flags, property ids)
                    if (bytes.Length > 2) bytes[random.Next(2, bytes.Length)] = (byte)random.Next(256);
                    break;
            }
        }
        return bytes;
    }

    private static readonly byte[] Interesting = [0x00, 0x01, 0x02, 0x03, 0x7F, 0x80, 0xC0, 0xED, 0xFF, 0x23, 0x2B, 0x26, 0x0B];

    private static void FixLength(byte[] bytes)
    {
        if (bytes.Length > 1 && bytes[1] < 0x80 && bytes.Length - 2 < 0x80) bytes[1] = (byte)(bytes.Length - 2);
    }
}
