using Gatehouse.Protocol;
using Gatehouse.Storage;
using Gatehouse.Storage.Embedded;

// Usage: Gatehouse.Storage.CrashHelper <data-dir> <first-number> <workers>
// Enqueues message N to session "crash" and prints "E N!" once that submission completed (is durable); for even N
// it then removes the delivery and prints "R N!". Runs until killed. The trailing '!' lets the reader reject a line
// cut short by the kill.
// As the server does: SQLite in multi-thread mode, set before anything opens a database.
SqliteThreadingMode.UseMultiThread();
var directory = args[0];
var next = long.Parse(args[1]) - 1;
var workers = int.Parse(args[2]);

var store = SqliteBrokerStore.Open(new SqliteStoreOptions { DataDirectory = directory });
await store.SaveSession(new SessionRecord("crash", ProtocolVersion.V500, 3600, null, null));
var output = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = true };
var gate = new Lock();
void Print(string line)
{
    lock (gate) output.WriteLine(line);
}
Print("ready!");

var payload = new byte[100];
await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
{
    while (true)
    {
        var n = Interlocked.Increment(ref next);
        var message = new ApplicationMessage { Id = n, Topic = "crash/" + n, Payload = payload, QoS = QoS.AtLeastOnce };
        await store.Enqueue(message, [new QueuedDeliveryRecord("crash", QoS.AtLeastOnce, false, null, null)]);
        Print($"E {n}!");
        if (n % 2 == 0)
        {
            await store.RemoveDelivery("crash", n);
            Print($"R {n}!");
        }
    }
})));
