using System.Net;
using System.Net.Sockets;
using Gatehouse.Testing;

namespace Gatehouse.Interop.Tests.Infrastructure;

/// <summary>
/// The broker under test, started once per test class with MQTT/TCP, WebSocket (/mqtt) and TLS listeners on
/// free loopback ports. Normally the real `gatehouse serve`; with GATEHOUSE_INTEROP_BROKER=mosquitto a local
/// mosquitto broker instead, which checks the tests themselves against a reference implementation.
/// </summary>
public sealed class InteropServer : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private ClientProcess? _process;
    private ServerProcess? _gatehouse;

    /// <summary>An identity seeded into the server's data directory before start-up (gatehouse serve only).</summary>
    public const string UserName = "interop-user";
    public const string Password = "interop-s3cret";

    /// <summary>The HS256 secret the server verifies JWT passwords with (--jwt-key).</summary>
    public const string JwtSecret = "interop-jwt-secret-0123456789-abcdefghij";

    public string Host => "127.0.0.1";

    public int MqttPort { get; private set; }

    public int WsPort { get; private set; }

    public int TlsPort { get; private set; }

    /// <summary>MQTT over WebSocket over TLS (wss://, path /mqtt).</summary>
    public int WssPort { get; private set; }

    /// <summary>The server's self-signed certificate (PEM); clients trust it as their CA file.</summary>
    public string CaFile => Certificate.CertificatePath;

    public TestCertificate Certificate { get; private set; } = null!;

    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "gatehouse-interop-" + Guid.NewGuid().ToString("N")[..12]);

    public static bool UsingMosquitto =>
        string.Equals(Environment.GetEnvironmentVariable("GATEHOUSE_INTEROP_BROKER"), "mosquitto", StringComparison.OrdinalIgnoreCase);

    /// <summary>Server output so far, for assertion messages.</summary>
    public string Transcript =>
        _gatehouse is not null ? $"--- gatehouse ({(_gatehouse.HasExited ? $"exit code {_gatehouse.ExitCode}" : "running")})\n{_gatehouse.Output}--- end of gatehouse\n"
        : _process?.Transcript ?? "(server not started)\n";

    public bool HasExited => _gatehouse is { HasExited: true } || _process is { HasExited: true };

    /// <summary>The last lines the server printed.</summary>
    public string Tail(int lines)
    {
        var all = Transcript.Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    public async Task InitializeAsync()
    {
        System.IO.Directory.CreateDirectory(Directory);
        Certificate = TestCertificate.Create(Path.Combine(Directory, "tls"));
        if (!UsingMosquitto)
        {
            WssPort = FreePort.Next(); // ServerProcess has no option for it; it would default to 8084
            var dataDirectory = Path.Combine(Directory, "data");
            await SeedIdentityAsync(dataDirectory);
            var jwtKey = Path.Combine(Directory, "jwt.key");
            await File.WriteAllTextAsync(jwtKey, JwtSecret);
            _gatehouse = await ServerProcess.StartAsync(new ServerProcessOptions
            {
                DataDirectory = dataDirectory,
                WebSocket = true,
                Tls = true,
                Arguments = ["--tls-cert", Certificate.CertificatePath, "--tls-key", Certificate.KeyPath, "--wss-port", $"{WssPort}", "--jwt-key", jwtKey,
                    // Every client here comes from 127.0.0.1, and the auth cases fail logins on purpose: without a
                    // higher threshold the brute-force guard (10 failures in 300 s) would ban the address for the
                    // tests that follow — it works as intended, but not for a shared test server.
                    "--Security:BruteForce:MaxFailures=1000"],
            });
            (MqttPort, WsPort, TlsPort) = (_gatehouse.MqttPort, _gatehouse.WebSocketPort, _gatehouse.TlsPort);
            return;
        }

        // Free ports are found by binding port 0; a rare collision with another process shows up as a start failure,
        // so try a few times.
        for (var attempt = 1; ; attempt++)
        {
            (MqttPort, WsPort, TlsPort, WssPort) = (FreePort.Next(), FreePort.Next(), FreePort.Next(), FreePort.Next());
            _process = StartMosquitto();
            try
            {
                await WaitUntilListeningAsync(_process, MqttPort);
                return;
            }
            catch (InteropException) when (attempt < 3 && _process.HasExited)
            {
                await _process.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Adds <see cref="UserName"/> with the real CLI. Anonymous clients on loopback stay allowed (the default), so the
    /// other tests are unaffected; the auth cases log in with it.
    /// </summary>
    private static async Task SeedIdentityAsync(string dataDirectory)
    {
        var cli = ClientProcess.Start("gatehouse identities add", "dotnet",
        [
            Path.Combine(AppContext.BaseDirectory, "gatehouse.dll"), "identities", "add", UserName, "--password", Password,
            // A low PBKDF2 cost keeps the tests fast; production uses the default.
            "--iterations", "10000", "--data-dir", dataDirectory,
        ]);
        await using (cli)
        {
            var exitCode = await cli.WaitForExitAsync(StartTimeout);
            if (exitCode != 0) throw new InteropException($"could not add the interop identity:\n{cli.Transcript}");
        }
    }

    private ClientProcess StartMosquitto()
    {
        var config = Path.Combine(Directory, "mosquitto.conf");
        File.WriteAllText(config, $"""
            allow_anonymous true
            log_dest stdout
            listener {MqttPort} {Host}
            listener {WsPort} {Host}
            protocol websockets
            listener {TlsPort} {Host}
            certfile {Certificate.CertificatePath}
            keyfile {Certificate.KeyPath}
            listener {WssPort} {Host}
            protocol websockets
            certfile {Certificate.CertificatePath}
            keyfile {Certificate.KeyPath}

            """);
        return ClientProcess.Start("mosquitto", "mosquitto", ["-c", config], workingDirectory: Directory);
    }

    /// <summary>mosquitto does not flush a ready line to a pipe; poll its port instead.</summary>
    private static async Task WaitUntilListeningAsync(ClientProcess process, int port)
    {
        var deadline = DateTime.UtcNow + StartTimeout;
        while (true)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                await Task.Delay(20);
            }
            catch (SocketException)
            {
                throw new InteropException($"{process.Name} is not listening on {port}", process);
            }
        }
    }

    /// <summary>Fails with the server's output if the server has died (a crash is a finding of its own).</summary>
    public void AssertAlive()
    {
        if (HasExited)
            throw new InvalidOperationException("the broker process exited during the test\n" + Transcript);
    }

    public async Task DisposeAsync()
    {
        if (_gatehouse is not null)
            await _gatehouse.DisposeAsync();
        if (_process is not null)
        {
            _process.Terminate();
            try
            {
                await _process.WaitForExitAsync(TimeSpan.FromSeconds(10));
            }
            catch (InteropException)
            {
            }
            await _process.DisposeAsync();
        }
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
