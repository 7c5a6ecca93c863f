using Gatehouse.Hosting;

namespace Gatehouse.Host.Tests.Hosting;

public sealed class ConnectionPathCompilerTests
{
    [Fact]
    public void Every_namespace_it_names_still_has_types()
    {
        // A renamed namespace would silently leave its code to be compiled on the first clients' time again.
        foreach (var (assembly, namespaces) in ConnectionPathCompiler.Path)
        {
            foreach (var name in namespaces)
                Assert.True(assembly.GetTypes().Any(t => t.Namespace == name), $"{assembly.GetName().Name} has no types in {name}");
        }
    }

    [Theory]
    [InlineData(typeof(Gatehouse.Broker.Routing.Router))]
    [InlineData(typeof(Gatehouse.Broker.Retained.RetainedMessages))]
    [InlineData(typeof(Gatehouse.Broker.Subscriptions.ShareGroup))]
    [InlineData(typeof(Gatehouse.Broker.Subscriptions.TopicTree<string, Gatehouse.Broker.Subscriptions.RouteTarget>))]
    [InlineData(typeof(Gatehouse.Storage.Embedded.SqliteBrokerStore))]
    [InlineData(typeof(Gatehouse.Protocol.Topics.TopicRules))]
    public void The_code_behind_SUBSCRIBE_UNSUBSCRIBE_routing_and_the_store_is_compiled_ahead(Type type)
    {
        // Compiled at its first call instead, the first UNSUBSCRIBE of a fresh broker took 7.6 ms and the first SUBSCRIBE
        // 12 ms, while another I/O thread went on routing other clients' messages through the old subscriptions.
        var covered = ConnectionPathCompiler.ClosedGenerics.Contains(type)
            || ConnectionPathCompiler.Path.Any(p => p.Assembly == type.Assembly && p.Namespaces.Contains(type.Namespace));
        Assert.True(covered, $"{type} is compiled only at its first call");
    }

    [Fact]
    public void It_compiles_the_connection_path_without_failing()
    {
        // The read loop, the CONNECT handling and the codec are among them; several hundred methods in all.
        Assert.InRange(ConnectionPathCompiler.Compile(), 500, int.MaxValue);
    }
}
