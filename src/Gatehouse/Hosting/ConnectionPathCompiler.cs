using System.Reflection;
using System.Runtime.CompilerServices;
using Gatehouse.Broker;
using Gatehouse.Protocol;
using Gatehouse.Broker.Subscriptions;
using Gatehouse.Security;
using Gatehouse.Storage;
using Gatehouse.Transport.Sockets;

namespace Gatehouse.Hosting;

/// <summary>
/// Compiles the code every connection runs (accept, read, CONNECT, CONNACK, session, the codec, routing, subscribing,
/// the store's writer) while the server starts, on a thread of its own, instead of on the first clients' time. Tiered
/// compilation is off for throughput (see Gatehouse.csproj), so each method is compiled fully optimised at its first
/// call: about 40 ms of compiling landed on the first CONNECT of a fresh broker, holding every client of a connect storm
/// behind it, and the first UNSUBSCRIBE waited 3-4 ms for the router's code while another I/O thread went on routing
/// the next client's PUBLISH through the subscription it was removing. Compiling these ahead costs a few hundred ms of
/// one core at start-up, in parallel with the rest of it where there is a second core.
/// </summary>
internal static class ConnectionPathCompiler
{
    /// <summary>Namespaces whose types are on a connection's path, by an assembly type in each assembly.</summary>
    internal static readonly (Assembly Assembly, string[] Namespaces)[] Path =
    [
        (typeof(SocketListener).Assembly, ["Gatehouse.Transport.Sockets"]),
        (typeof(MqttBroker).Assembly,
        [
            "Gatehouse.Broker", "Gatehouse.Broker.Connections", "Gatehouse.Broker.Channel", "Gatehouse.Broker.Sessions",
            "Gatehouse.Broker.Routing", "Gatehouse.Broker.Subscriptions", "Gatehouse.Broker.Retained", "Gatehouse.Broker.Diagnostics",
            "Gatehouse.Broker.Timers",
        ]),
        (typeof(QoS).Assembly, ["Gatehouse.Protocol", "Gatehouse.Protocol.Codec", "Gatehouse.Protocol.Packets", "Gatehouse.Protocol.Topics"]),
        (typeof(IBrokerStore).Assembly, ["Gatehouse.Storage", "Gatehouse.Storage.Embedded"]),
        (typeof(SecurityService).Assembly,
            ["Gatehouse.Security", "Gatehouse.Security.Authentication", "Gatehouse.Security.Authorization", "Gatehouse.Security.Quotas"]),
    ];

    /// <summary>Generic types the path uses closed over the broker's own types; their code is compiled for that instantiation.</summary>
    internal static readonly Type[] ClosedGenerics = [typeof(TopicTree<string, RouteTarget>)];

    public static Task StartAsync() => Task.Factory.StartNew(Compile, CancellationToken.None,
        TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>Compiles every method of those types (nested ones included: async state machines, lambdas) that is not generic; returns how many.</summary>
    internal static int Compile()
    {
        var compiled = 0;
        foreach (var (assembly, namespaces) in Path)
        {
            foreach (var type in assembly.GetTypes())
            {
                if (type.ContainsGenericParameters || type.IsInterface || !namespaces.Contains(type.Namespace)) continue;
                compiled += CompileMethods(type, instantiation: null);
            }
        }
        foreach (var closed in ClosedGenerics)
        {
            // Its nested types (tree nodes, enumerators) share its type parameters.
            var arguments = closed.GetGenericArguments();
            var instantiation = Array.ConvertAll(arguments, a => a.TypeHandle);
            compiled += CompileMethods(closed, instantiation);
            foreach (var nested in closed.GetGenericTypeDefinition().GetNestedTypes(BindingFlags.Public | BindingFlags.NonPublic))
            {
                if (nested.IsGenericTypeDefinition && nested.GetGenericArguments().Length == arguments.Length)
                    compiled += CompileMethods(nested.MakeGenericType(arguments), instantiation);
            }
        }
        return compiled;
    }

    private static int CompileMethods(Type type, RuntimeTypeHandle[]? instantiation)
    {
        const BindingFlags Declared = BindingFlags.DeclaredOnly | BindingFlags.Instance | BindingFlags.Static
            | BindingFlags.Public | BindingFlags.NonPublic;
        var compiled = 0;
        foreach (var method in type.GetMethods(Declared).Concat<MethodBase>(type.GetConstructors(Declared)))
        {
            if (method.IsAbstract || method.ContainsGenericParameters) continue;
            try
            {
                if (instantiation is null) RuntimeHelpers.PrepareMethod(method.MethodHandle);
                else RuntimeHelpers.PrepareMethod(method.MethodHandle, instantiation);
                compiled++;
            }
            catch (Exception ex) when (ex is ArgumentException or TypeLoadException or MissingMethodException or BadImageFormatException)
            {
                // Not compilable ahead (it is compiled, if ever, at its first call as before).
            }
        }
        return compiled;
    }
}
