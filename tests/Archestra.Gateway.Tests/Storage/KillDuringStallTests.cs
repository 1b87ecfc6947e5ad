using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Archestra.Gateway.Tests.Infrastructure;
using Archestra.Storage;
using Microsoft.Data.Sqlite;

namespace Archestra.Gateway.Tests.Storage;

/// <summary>
/// kill -9 while the database stalls: the gateway (the real binary's entry point, run as a child) answers tool calls
/// while another connection holds the SQLite write lock for seconds, and is killed with the lock still held. After
/// the restart's replay, every call answered earlier than the documented window (flush interval + write deadline)
/// before the kill has its row, exactly once. Before the fix the whole in-memory queue was lost: every call
/// answered since the lock was taken.
/// </summary>
public sealed class KillDuringStallTests(ITestOutputHelper output)
{
    private const int FlushMs = 100,
        DeadlineMs = 200;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task After_kill_9_during_a_sqlite_lock_every_call_answered_before_the_flush_and_write_deadline_window_has_its_row()
    {
        await using var process = await GatewayProcess.StartAsync(
            $$"""
            "mcpServers": { "up": { "command": "node", "args": [{{JsonSerializer.Serialize(Repo.Everything)}}, "stdio"] } },
            "profiles": { "load": { "servers": ["up"], "tools": { "*": { "resultTreatment": "trusted" } } } }
            """,
            $"\"auditFlushIntervalMs\": {FlushMs}, \"auditWriteDeadlineMs\": {DeadlineMs}"
        );
        var gateway = process.Process;
        var data = process.DataDirectory;

        using var http = new HttpClient { BaseAddress = process.GatewayUrl };
        var answered = new ConcurrentQueue<(string Marker, long At)>();
        using var stop = new CancellationTokenSource();

        async Task WorkerAsync(int worker)
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var marker = $"w{worker}-c{i}";
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
                    using var response = await http.SendAsync(request, stop.Token);
                    var body = await response.Content.ReadAsStringAsync(stop.Token);
                    if (response.IsSuccessStatusCode && body.Contains($"Echo: {marker}", StringComparison.Ordinal))
                    {
                        answered.Enqueue((marker, Stopwatch.GetTimestamp()));
                    }
                }
                catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
                {
                    // Killed, or the test is done: this worker stops.
                    return;
                }
            }
        }

        var workers = Enumerable.Range(0, 8).Select(w => Task.Run(() => WorkerAsync(w), Ct)).ToArray();
        await WaitUntilAsync(() => answered.Count >= 300, "300 calls answered with the database healthy");

        // Another process's view of the file: a write lock held until after the kill.
        await using var holder = new SqliteConnection($"Data Source={Path.Combine(data, "archestra.db")};Pooling=False");
        await holder.OpenAsync(Ct);
        await using (var begin = holder.CreateCommand())
        {
            begin.CommandText = "BEGIN EXCLUSIVE";
            await begin.ExecuteNonQueryAsync(Ct);
        }

        var lockedAt = Stopwatch.GetTimestamp();
        var answeredBeforeLock = answered.Count;
        // Seconds of stall, ten times the window, so the old behaviour (the whole queue lost) cannot pass.
        await WaitUntilAsync(
            () => Stopwatch.GetElapsedTime(lockedAt) >= TimeSpan.FromSeconds(3) && answered.Count - answeredBeforeLock >= 500,
            "3 s and 500 calls with the lock held"
        );
        var killedAt = Stopwatch.GetTimestamp();
        gateway.Signal("KILL");
        await gateway.WaitForExitAsync(TimeSpan.FromSeconds(30));
        await stop.CancelAsync();
        await Task.WhenAll(workers);
        await holder.CloseAsync();

        // The restart: a new writer replays what the killed one spilled.
        await using var store = await ArchestraStore.OpenAsync(
            new StorageOptions
            {
                SqlitePath = Path.Combine(data, "archestra.db"),
                SpillDirectory = Path.Combine(data, "audit-spill"),
                RetentionDays = 0,
            },
            cancellationToken: Ct
        );
        var writer = store.CreateAuditWriter();
        writer.Start();
        await writer.StopAsync(Ct);
        var replayed = writer.Metrics.Written;

        var rows = new List<string>();
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
            rows.AddRange(page.Items.Select(r => JsonDocument.Parse(r.Arguments!).RootElement.GetProperty("message").GetString()!));
            cursor = page.NextCursor;
        } while (cursor is not null);

        var kept = rows.ToHashSet();
        var calls = answered.ToArray();
        var lost = calls.Where(c => !kept.Contains(c.Marker)).ToArray();
        var window = TimeSpan.FromMilliseconds(FlushMs + DeadlineMs);
        var locked = Stopwatch.GetElapsedTime(lockedAt, killedAt);
        var rate = (calls.Length - answeredBeforeLock) / locked.TotalSeconds;
        var oldestLost = lost.Length == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(lost.Min(c => c.At), killedAt);
        output.WriteLine(
            $"{calls.Length} calls answered ({calls.Length - answeredBeforeLock} in {locked.TotalSeconds:F1} s with the lock held, "
                + $"{rate:F0}/s), {rows.Count} rows kept ({replayed} replayed from the spill), {lost.Length} answered calls lost; the "
                + $"oldest lost call was answered {oldestLost.TotalMilliseconds:F0} ms before the kill; the window is "
                + $"{window.TotalMilliseconds} ms ≈ {rate * window.TotalSeconds:F0} calls at this rate"
        );

        Assert.Equal(rows.Count, kept.Count);
        Assert.True(replayed > 0, "the killed gateway spilled what the locked database could not take");
        // The documented bound, plus one more window of slack for the scheduler of a loaded 2-core machine (the
        // record is enqueued after the answer is written; the writer loop may wait for a CPU).
        Assert.True(
            oldestLost <= 2 * window,
            $"a call answered {oldestLost.TotalMilliseconds:F0} ms before kill -9 has no row (window {window.TotalMilliseconds} ms)"
        );
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var bound = TimeSpan.FromSeconds(60);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(bound);
        try
        {
            while (!condition())
            {
                await Task.Delay(10, timeout.Token);
            }
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
            Assert.Fail($"Not within {bound.TotalSeconds} s: {what}.");
        }
    }
}
