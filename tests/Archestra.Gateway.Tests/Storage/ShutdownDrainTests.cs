using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Archestra.Gateway.Tests.Infrastructure;
using Archestra.Storage;

namespace Archestra.Gateway.Tests.Storage;

/// <summary>
/// SIGTERM in the middle of a load of tool calls: the gateway process (the real binary's entry point, run as a
/// child) finishes the calls it accepted and writes every audit record before it exits, so each call that got an
/// answer has exactly one row.
/// </summary>
public sealed class ShutdownDrainTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // A bound on the whole test (xunit cancels TestContext's token and fails it): a hang here fails instead of stalling CI.
    [Fact(Timeout = 180_000)]
    public async Task Every_answered_call_has_exactly_one_audit_row_after_SIGTERM_mid_load()
    {
        await using var process = await GatewayProcess.StartAsync(
            $$"""
            "mcpServers": { "up": { "command": "node", "args": [{{JsonSerializer.Serialize(Repo.Everything)}}, "stdio"] } },
            "profiles": { "load": { "servers": ["up"], "tools": { "*": { "resultTreatment": "trusted" } } } }
            """,
            "\"auditFlushIntervalMs\": 2000, \"auditBatchSize\": 100000"
        );
        var gateway = process.Process;
        var data = process.DataDirectory;

        using var http = new HttpClient { BaseAddress = process.GatewayUrl };
        var answered = new System.Collections.Concurrent.ConcurrentBag<string>();
        var attempted = 0;
        using var stop = new CancellationTokenSource();

        async Task WorkerAsync(int worker)
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var marker = $"w{worker}-c{i}";
                Interlocked.Increment(ref attempted);
                try
                {
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
                    if (response.IsSuccessStatusCode && body.Contains($"Echo: {marker}", StringComparison.Ordinal))
                    {
                        answered.Add(marker);
                    }
                }
                catch (HttpRequestException)
                {
                    // The gateway stopped accepting: this worker is done.
                    return;
                }
            }
        }

        var workers = Enumerable.Range(0, 8).Select(w => Task.Run(() => WorkerAsync(w), Ct)).ToArray();
        for (var waited = 0; answered.Count < 300; waited++)
        {
            Assert.True(waited < 6_000, $"only {answered.Count} calls answered within 60 s");
            Assert.False(workers.All(w => w.IsCompleted), $"every worker stopped after {answered.Count} answers");
            await Task.Delay(10, Ct);
        }

        // The flush interval is 2 s, so most of these records are still queued in memory now.
        gateway.Signal("TERM");
        Assert.Equal(0, await gateway.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        await stop.CancelAsync();
        await Task.WhenAll(workers);

        Assert.False(
            Directory.Exists(Path.Combine(data, "audit-spill"))
                && Directory.EnumerateFiles(Path.Combine(data, "audit-spill")).Any(f => new FileInfo(f).Length > 16),
            "with the database up, the drain writes to the database, not the spill"
        );

        await using var store = await ArchestraStore.OpenAsync(
            new StorageOptions { SqlitePath = Path.Combine(data, "archestra.db"), SpillDirectory = Path.Combine(data, "audit-spill") },
            cancellationToken: Ct
        );
        var rows = new List<McpToolCallRecord>();
        string? cursor = null;
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

        var markers = rows.Select(r => JsonDocument.Parse(r.Arguments!).RootElement.GetProperty("message").GetString()!).ToList();
        Assert.Equal(markers.Count, markers.Distinct().Count());
        Assert.Empty(answered.Except(markers));
        Assert.True(rows.Count <= attempted, $"{rows.Count} rows for {attempted} attempted calls");
        Assert.True(answered.Count >= 300);
    }
}
