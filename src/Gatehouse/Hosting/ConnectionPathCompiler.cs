using System.Reflection;
using System.Runtime.CompilerServices;
using Gatehouse.Broker;
using Gatehouse.Protocol;
using Gatehouse.Security;
using Gatehouse.Transport.Sockets;

namespace Gatehouse.Hosting;

/// <summary>
/// Compiles the code every connection runs (accept, read, CONNECT, CONNACK, session, the codec) while the server starts,
/// on a thread of its own, instead of on the first clients' time. Tiered compilation is off for throughput (see
/// Gatehouse.csproj), so each method is compiled fully optimised at its first call: about 40 ms of compiling landed on
/// the first CONNECT of a fresh broker, holding every client of a connect storm behind it. Compiling these ahead
/// costs about 200 ms of one core at start-up, in parallel with the rest of it where there is a second core.
/// </summary>
internal static class ConnectionPathCompiler
{
    /// <summary>Namespaces whose types are on a connection's path, by an assembly type in each assembly.</summary>
    internal static readonly (Assembly Assembly, string[] Namespaces)[] Path =
    [
        (typeof(SocketListener).Assembly, ["Gatehouse.Transport.Sockets"]),
        (typeof(MqttBroker).Assembly, ["Gatehouse.Broker", "Gatehouse.Broker.Connections", "Gatehouse.Broker.Channel", "Gatehouse.Broker.Sessions"]),
        (typeof(QoS).Assembly, ["Gatehouse.Protocol.Codec"]),
        (typeof(SecurityService).Assembly, ["Gatehouse.Security", "Gatehouse.Security.Authentication"]),
    ];

    public static Task StartAsync() => Task.Factory.StartNew(Compile, CancellationToken.None,
        TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>Compiles every method of those types (nested ones included: async state machines, lambdas) that is not generic; returns how many.</summary>
    internal static int Compile()
    {
        const BindingFlags Declared = BindingFlags.DeclaredOnly | BindingFlags.Instance | BindingFlags.Static
            | BindingFlags.Public | BindingFlags.NonPublic;
        var compiled = 0;
        foreach (var (assembly, namespaces) in Path)
        {
            foreach (var type in assembly.GetTypes())
            {
                if (type.ContainsGenericParameters || type.IsInterface || !namespaces.Contains(type.Namespace)) continue;
                foreach (var method in type.GetMethods(Declared).Concat<MethodBase>(type.GetConstructors(Declared)))
                {
                    if (method.IsAbstract || method.ContainsGenericParameters) continue;
                    try
                    {
                        RuntimeHelpers.PrepareMethod(method.MethodHandle);
                        compiled++;
                    }
                    catch (Exception ex) when (ex is ArgumentException or TypeLoadException or MissingMethodException or BadImageFormatException)
                    {
                        // Not compilable ahead (it is compiled, if ever, at its first call as before).
                    }
                }
            }
        }
        return compiled;
    }
}
