using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Archestra.Storage.Tests.Infrastructure;

/// <summary>
/// A real PostgreSQL the test run starts itself: initdb into a temp directory, pg_ctl on a free loopback port with
/// the socket in that directory, fsync off. Runs the binaries as the <c>postgres</c> user through <c>runuser</c>
/// when the tests run as root (PostgreSQL refuses root). Stops and deletes everything on dispose. No xunit types
/// here: the audit bench links this file too (the xunit fixture is <see cref="PostgresFixture"/>).
/// </summary>
public class PostgresServer : IAsyncDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("archestra-pg-").FullName;
    private string _bin = "";
    private int _databases;

    public int Port { get; private set; }

    public string DataDirectory => Path.Combine(_root, "data");

    public string LogFile => Path.Combine(_root, "log");

    /// <summary>postgres:// URL of a database on this server.</summary>
    public string Url(string database) => $"postgres://archestra@127.0.0.1:{Port}/{database}?Pooling=true";

    public virtual async ValueTask InitializeAsync()
    {
        _bin = FindBinaries();
        if (Environment.IsPrivilegedProcess)
        {
            await RunAsync("chown", ["-R", "postgres:postgres", _root], asPostgres: false);
        }

        await RunAsync(Path.Combine(_bin, "initdb"), ["-D", DataDirectory, "-U", "archestra", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"]);
        Port = FreePort();
        await StartAsync();
    }

    /// <summary>The Npgsql connection string of a database URL this server gave (no pooling: tests cut connections).</summary>
    public static string ConnectionString(string url)
    {
        var uri = new Uri(url);
        return $"Host={uri.Host};Port={uri.Port};Username=archestra;Database={uri.AbsolutePath.TrimStart('/')};Pooling=false";
    }

    /// <summary>Runs one statement in the database at <paramref name="url"/>, as someone at psql would.</summary>
    public static async Task ExecuteAsync(string url, string sql, CancellationToken cancellationToken = default)
    {
        await using var connection = new NpgsqlConnection(ConnectionString(url));
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>A fresh, empty database; returns its URL.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = $"t{Interlocked.Increment(ref _databases)}_{Guid.NewGuid():N}"[..24];
        await using var connection = new NpgsqlConnection($"Host=127.0.0.1;Port={Port};Username=archestra;Database=postgres;Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
        await command.ExecuteNonQueryAsync();
        return Url(name);
    }

    public Task StartAsync() =>
        RunAsync(
            Path.Combine(_bin, "pg_ctl"),
            [
                "-D",
                DataDirectory,
                "-l",
                LogFile,
                "-w",
                "-t",
                "60",
                "-o",
                $"-c listen_addresses=127.0.0.1 -p {Port} -k {_root} -c fsync=off -c full_page_writes=off -c max_connections=300",
                "start",
            ]
        );

    /// <summary><c>pg_ctl stop -m immediate</c>: the server dies without a checkpoint, like a crash.</summary>
    public Task StopImmediateAsync() => RunAsync(Path.Combine(_bin, "pg_ctl"), ["-D", DataDirectory, "-m", "immediate", "-w", "stop"]);

    /// <summary>
    /// Sends <paramref name="signal"/> (<c>STOP</c>, <c>CONT</c>) to the postmaster and each of its children, by pid:
    /// SIGSTOP freezes the whole server as a hung host would, with every connection left open.
    /// </summary>
    public async Task SignalServerAsync(string signal)
    {
        var postmaster = int.Parse(File.ReadLines(Path.Combine(DataDirectory, "postmaster.pid")).First(), System.Globalization.CultureInfo.InvariantCulture);
        var pids = new List<string> { postmaster.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        foreach (var dir in Directory.GetDirectories("/proc"))
        {
            try
            {
                // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after the last ')'.
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields[1] == pids[0])
                {
                    pids.Add(Path.GetFileName(dir));
                }
            }
            catch (IOException)
            {
                // Not a process, or it exited meanwhile.
            }
            catch (UnauthorizedAccessException) { }
        }

        await RunAsync("kill", ["-" + signal, .. pids], asPostgres: false);
    }

    public virtual async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        try
        {
            if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
            {
                await RunAsync(Path.Combine(_bin, "pg_ctl"), ["-D", DataDirectory, "-m", "immediate", "-w", "stop"]);
            }
        }
        finally
        {
            Directory.Delete(_root, recursive: true);
        }
    }

    /// <summary>The newest /usr/lib/postgresql/*/bin that has pg_ctl.</summary>
    internal static string FindBinaries()
    {
        const string root = "/usr/lib/postgresql";
        var candidates = Directory.Exists(root)
            ? Directory
                .GetDirectories(root)
                .Select(d => (Dir: Path.Combine(d, "bin"), Version: int.TryParse(Path.GetFileName(d), out var v) ? v : 0))
                .Where(c => File.Exists(Path.Combine(c.Dir, "pg_ctl")))
                .OrderByDescending(c => c.Version)
                .ToList()
            : [];
        return candidates.Count > 0
            ? candidates[0].Dir
            : throw new InvalidOperationException(
                "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin: run scripts/setup.sh (it installs the Debian postgresql package)."
            );
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task RunAsync(string file, string[] args, bool asPostgres = true)
    {
        var psi = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        if (asPostgres && Environment.IsPrivilegedProcess)
        {
            psi.FileName = "runuser";
            foreach (var a in (string[])["-u", "postgres", "--", file])
            {
                psi.ArgumentList.Add(a);
            }
        }
        else
        {
            psi.FileName = file;
        }

        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited with {process.ExitCode}: {await stdout}{await stderr}");
        }
    }
}
