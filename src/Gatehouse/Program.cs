using Gatehouse.Cli;
using Gatehouse.Hosting;

IoThreadMode.ApplyForServe(args);
return await GatehouseCli.RunAsync(args);
