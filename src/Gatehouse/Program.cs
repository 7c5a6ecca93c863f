using Gatehouse.Cli;
using Gatehouse.Hosting;
using Gatehouse.Storage.Embedded;

// Before the thread pool is first used: it reads its spin limit only then (see ThreadPoolSpinning). The server only:
// the load generator's paced publishers and latency samples run on the pool, and measured later without the spinning.
if (args is ["serve", ..]) ThreadPoolSpinning.DisableOnOneCore();

// Before anything opens a database: SQLite takes its threading mode only then (see SqliteThreadingMode).
SqliteThreadingMode.UseMultiThread();
return await GatehouseCli.RunAsync(args);
