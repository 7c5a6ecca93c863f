using Gatehouse.Cli;
using Gatehouse.Storage.Embedded;

// Before anything opens a database: SQLite takes its threading mode only then (see SqliteThreadingMode).
SqliteThreadingMode.UseMultiThread();
return await GatehouseCli.RunAsync(args);
