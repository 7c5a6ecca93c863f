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

    [Fact]
    public void It_compiles_the_connection_path_without_failing()
    {
        // The read loop, the CONNECT handling and the codec are among them; several hundred methods in all.
        Assert.InRange(ConnectionPathCompiler.Compile(), 500, int.MaxValue);
    }
}
