using System.Diagnostics;
using System.Globalization;
using Gatehouse.Protocol;
using Gatehouse.Storage;
using Gatehouse.Storage.Embedded;

// Usage: Gatehouse.StoreFill DATA_DIR [SESSIONS=100000] [MESSAGES=1000000] [PAYLOAD_BYTES=100]
// Writes SESSIONS persistent v5 sessions (one subscription each) and MESSAGES QoS 1 messages queued round-robin over
// them, one body and one delivery each, as the broker would. Then: gatehouse serve --data-dir DATA_DIR and read the
// "Recovered ..." log line.
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: Gatehouse.StoreFill DATA_DIR [SESSIONS] [MESSAGES] [PAYLOAD_BYTES]");
    return 2;
}
var directory = args[0];
var sessions = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 100_000;
var messages = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1_000_000;
var payloadBytes = args.Length > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 100;

var started = Stopwatch.StartNew();
await using (var store = SqliteBrokerStore.Open(new SqliteStoreOptions { DataDirectory = directory, MaxBatchSize = 8192 }))
{
    var pending = new List<Task>(16_384);
    async Task Drain()
    {
        await Task.WhenAll(pending);
        pending.Clear();
    }
    for (var i = 0; i < sessions; i++)
    {
        var clientId = $"fill-{i}";
        pending.Add(store.SaveSession(new SessionRecord(clientId, ProtocolVersion.V500, 86_400, DateTimeOffset.UtcNow, null)).AsTask());
        pending.Add(store.SaveSubscription(clientId, new SubscriptionRecord($"fill/{i}/#", QoS.AtLeastOnce, false, false, 0, null)).AsTask());
        if (pending.Count >= 16_384) await Drain();
    }
    await Drain();
    Console.WriteLine($"{sessions} sessions in {started.Elapsed.TotalSeconds:0.0} s");

    var payload = new byte[payloadBytes];
    var firstId = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() << 16;
    for (var n = 0; n < messages; n++)
    {
        var session = n % sessions;
        var message = new ApplicationMessage
        {
            Id = firstId + n,
            Topic = $"fill/{session}/{n}",
            Payload = payload,
            QoS = QoS.AtLeastOnce,
            PublisherClientId = "fill-publisher",
        };
        pending.Add(store.Enqueue(message, [new QueuedDeliveryRecord($"fill-{session}", QoS.AtLeastOnce, false, null, null)]).AsTask());
        if (pending.Count >= 16_384) await Drain();
        if ((n + 1) % 200_000 == 0) Console.WriteLine($"{n + 1} messages in {started.Elapsed.TotalSeconds:0.0} s");
    }
    await Drain();
    var stats = store.Statistics;
    Console.WriteLine($"{stats.Operations} operations in {stats.Commits} commits, {started.Elapsed.TotalSeconds:0.0} s");
}
var file = new FileInfo(Path.Combine(directory, SqliteStoreOptions.FileName));
Console.WriteLine($"{file.FullName}: {file.Length / (1024.0 * 1024):0.0} MiB");
return 0;
