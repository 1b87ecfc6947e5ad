using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Policy;
using Archestra.Storage;
using Archestra.Storage.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace Archestra.Gateway.Tests.Storage;

/// <summary>
/// The whole gateway on PostgreSQL, with real tool calls (server-everything over stdio): PostgreSQL crashes
/// (<c>pg_ctl stop -m immediate</c>) in the middle of the load and comes back; afterwards every answered call
/// has exactly one audit row. Own PostgreSQL, because it is stopped.
/// </summary>
public sealed class GatewayPostgresFaultTests : IAsyncLifetime
{
    private readonly PostgresServer _server = new();
    private readonly string _work = Directory.CreateTempSubdirectory("archestra-gw-fault-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => _server.InitializeAsync();

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_work, recursive: true);
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Archestra.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Archestra.sln not found above " + AppContext.BaseDirectory);
    }

    [Fact(Timeout = 300_000)]
    public async Task Tool_calls_during_a_postgres_crash_each_leave_exactly_one_row()
    {
        var everything = Path.Combine(RepoRoot(), "tests", "node", "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js");
        var trusted = new Dictionary<string, ToolSettings> { ["*"] = new(ResultTreatment: ResultTreatment.Trusted) };
        var compiled = PolicyCompiler.Compile(new PolicySetDefinition([], [], [new ProfilePolicyInput("load", ["up"], trusted)]));
        var config = new GatewayConfig
        {
            Listen = new ListenConfig
            {
                Gateway = "http://127.0.0.1:0",
                Admin = "http://127.0.0.1:0",
                Metrics = "http://127.0.0.1:0",
            },
            McpServers =
            [
                new McpServerConfig
                {
                    Name = "up",
                    Kind = McpServerKind.Stdio,
                    Command = "node",
                    Args = [everything, "stdio"],
                },
            ],
            Profiles =
            [
                new ProfileConfig
                {
                    Name = "load",
                    Servers = ["up"],
                    Tools = trusted,
                },
            ],
            Policies = compiled.Snapshot!,
            Storage = new StorageConfig
            {
                Database = await _server.CreateDatabaseAsync(),
                DataDirectory = Path.Combine(_work, "data"),
                AuditFlushInterval = TimeSpan.FromMilliseconds(50),
                AuditBatchSize = 200,
            },
            AdminKeys = [new AdminKeyConfig("test", SecretHash.Compute("admin-key-for-the-fault-test"), true)],
        };

        var gateway = await GatewayServer.StartAsync(config, Ct, logging => logging.SetMinimumLevel(LogLevel.Warning), _ => null);
        var answered = new ConcurrentBag<string>();
        try
        {
            using var http = new HttpClient { BaseAddress = gateway.GatewayUrl };
            const int total = 3_000,
                workers = 8;
            var next = -1;
            var crashAt = new TaskCompletionSource();
            var restartAt = new TaskCompletionSource();

            async Task WorkerAsync()
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < total)
                {
                    var marker = $"call-{i}";
                    using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/mcp/load")
                    {
                        Content = new StringContent(
                            """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":""" + "\"" + marker + "\"}}}",
                            Encoding.UTF8,
                            "application/json"
                        ),
                    };
                    request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
                    request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
                    using var response = await http.SendAsync(request, Ct);
                    var body = await response.Content.ReadAsStringAsync(Ct);
                    Assert.True(response.IsSuccessStatusCode && body.Contains("Echo: " + marker, StringComparison.Ordinal), body);
                    answered.Add(marker);
                    if (answered.Count == total / 4)
                    {
                        crashAt.TrySetResult();
                    }
                    else if (answered.Count == total * 3 / 4)
                    {
                        restartAt.TrySetResult();
                    }
                }
            }

            var load = Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(WorkerAsync, Ct)));
            await crashAt.Task.WaitAsync(TimeSpan.FromSeconds(60), Ct);
            await _server.StopImmediateAsync();
            await restartAt.Task.WaitAsync(TimeSpan.FromSeconds(60), Ct);
            await _server.StartAsync();
            await load.WaitAsync(TimeSpan.FromSeconds(120), Ct);
            Assert.Equal(total, answered.Count);

            // The writer replays the spilled batches once it sees the database again; wait for the count, not a time.
            var store = gateway.Store;
            List<McpToolCallRecord> rows = [];
            for (var attempt = 0; attempt < 600; attempt++)
            {
                rows = await ReadAllAsync(store);
                if (rows.Count >= total)
                {
                    break;
                }

                await Task.Delay(100, Ct);
            }

            var markers = rows.Select(r => JsonDocument.Parse(r.Arguments!).RootElement.GetProperty("message").GetString()!).ToList();
            Assert.Equal(total, markers.Count);
            Assert.Equal(total, markers.Distinct().Count());
            Assert.Empty(answered.Except(markers));
            Assert.True(gateway.Audit.Metrics.Spilled > 0, "the crash should have sent batches to the spill file");
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    private static async Task<List<McpToolCallRecord>> ReadAllAsync(ArchestraStore store)
    {
        var rows = new List<McpToolCallRecord>();
        string? cursor = null;
        try
        {
            do
            {
                var page = await store.ListToolCallsAsync(
                    new ToolCallQuery
                    {
                        Profile = "load",
                        Limit = 1000,
                        Cursor = cursor,
                    },
                    Ct
                );
                rows.AddRange(page.Items);
                cursor = page.NextCursor;
            } while (cursor is not null);
        }
        catch (Npgsql.NpgsqlException)
        {
            // Still reconnecting after the restart.
            return [];
        }

        return rows;
    }
}
