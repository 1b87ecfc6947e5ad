using System.Text.Json;

namespace Archestra.Gateway.Tests.Infrastructure;

/// <summary>
/// The real gateway as a child process (<c>dotnet archestra.dll serve --config</c>), for tests that signal it, kill it
/// or measure its memory. It gets a work directory of its own with the configuration and the data directory in it,
/// and its three listeners on free loopback ports; disposing kills it and deletes the directory.
/// </summary>
internal sealed class GatewayProcess : IAsyncDisposable
{
    private GatewayProcess(string work, ExternalProcess process, int gatewayPort, int adminPort)
    {
        WorkDirectory = work;
        Process = process;
        GatewayUrl = new Uri($"http://127.0.0.1:{gatewayPort}");
        AdminUrl = new Uri($"http://127.0.0.1:{adminPort}");
    }

    public string WorkDirectory { get; }

    /// <summary>The configured <c>storage.dataDirectory</c> (SQLite file and audit spill).</summary>
    public string DataDirectory => Path.Combine(WorkDirectory, "data");

    public ExternalProcess Process { get; }

    public Uri GatewayUrl { get; }

    public Uri AdminUrl { get; }

    /// <summary>
    /// Starts a gateway whose configuration is <paramref name="members"/> (top-level members after <c>listen</c>,
    /// e.g. <c>"mcpServers": {...}, "profiles": {...}</c>) and <c>"storage": {"dataDirectory": ..., storage}</c>, and
    /// waits until the gateway and admin listeners accept connections.
    /// </summary>
    public static async Task<GatewayProcess> StartAsync(string members, string storage = "", IDictionary<string, string>? env = null)
    {
        var work = Directory.CreateTempSubdirectory("archestra-process-").FullName;
        var (gatewayPort, adminPort) = (Repo.FreePort(), Repo.FreePort());
        var config = Path.Combine(work, "archestra.json");
        var data = JsonSerializer.Serialize(Path.Combine(work, "data"));
        await File.WriteAllTextAsync(
            config,
            $$"""
            {
              "listen": { "gateway": "http://127.0.0.1:{{gatewayPort}}", "admin": "http://127.0.0.1:{{adminPort}}",
                "metrics": "http://127.0.0.1:{{Repo.FreePort()}}" },
              {{members}},
              "storage": { "dataDirectory": {{data}}{{(storage.Length > 0 ? ", " + storage : "")}} }
            }
            """
        );
        var process = ExternalProcess.Start("dotnet", [Path.Combine(AppContext.BaseDirectory, "archestra.dll"), "serve", "--config", config], env, work);
        var gateway = new GatewayProcess(work, process, gatewayPort, adminPort);
        try
        {
            await process.WaitForPortAsync(gatewayPort, TimeSpan.FromSeconds(60));
            await process.WaitForPortAsync(adminPort, TimeSpan.FromSeconds(60));
            return gateway;
        }
        catch
        {
            await gateway.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Process.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(WorkDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A file still open by a child the kill has not reaped yet: the temp directory is left behind.
        }
    }
}
