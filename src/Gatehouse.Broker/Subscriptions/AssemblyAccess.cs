using System.Runtime.CompilerServices;

// TopicTree exposes NodeCount() internally so its tests can prove pruning.
[assembly: InternalsVisibleTo("Gatehouse.Broker.Tests")]
