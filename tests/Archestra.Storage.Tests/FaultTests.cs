using System.Diagnostics;
using Archestra.Storage.Tests.Infrastructure;

namespace Archestra.Storage.Tests;

/// <summary>Tests whose bounds depend on the writer keeping pace run alone: other classes' gateways and databases
/// competing for two cores would measure the machine, not the writer.</summary>
[CollectionDefinition(nameof(RunsAlone), DisableParallelization = true)]
public sealed class RunsAlone;

/// <summary>
/// No loss under faults, counted exactly. This class has its own PostgreSQL because it stops it; nothing here
/// asserts on wall-clock time except the kill -9 bound, which is the one the README promises.
/// </summary>
[Collection(nameof(RunsAlone))]
public sealed class FaultTests(ITestOutputHelper output) : IAsyncLifetime
{
    // Every test here has a Timeout (xunit then cancels TestContext's token and fails the test) and every wait loop a
    // bound with a message: a regression fails instead of hanging CI.
    private readonly PostgresServer _server = new();
    private readonly string _work = Directory.CreateTempSubdirectory("archestra-fault-").FullName;

    public ValueTask InitializeAsync() => _server.InitializeAsync();

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_work, recursive: true);
    }

    [Fact(Timeout = 300_000)]
    public async Task Records_enqueued_while_postgres_crashes_and_restarts_are_all_written_exactly_once()
    {
        var ct = TestContext.Current.CancellationToken;
        var options = new StorageOptions
        {
            DatabaseUrl = await _server.CreateDatabaseAsync(),
            SpillDirectory = Path.Combine(_work, "spill"),
            FlushInterval = TimeSpan.FromMilliseconds(20),
            BatchSize = 500,
            MinProbeInterval = TimeSpan.FromMilliseconds(50),
            MaxProbeInterval = TimeSpan.FromMilliseconds(400),
            RetentionDays = 0,
        };
        await using var store = await ArchestraStore.OpenAsync(options, cancellationToken: ct);
        var writer = store.CreateAuditWriter();
        writer.Start();

        const int n = 20_000,
            producers = 4;
        var enqueued = 0;
        var crashed = new TaskCompletionSource();
        var produce = Enumerable
            .Range(0, producers)
            .Select(p =>
                Task.Run(
                    async () =>
                    {
                        for (var i = p; i < n; i += producers)
                        {
                            writer.Enqueue(i % 4 == 0 ? Records.Llm(i) : Records.ToolCall(i));
                            if (Interlocked.Increment(ref enqueued) == n / 2)
                            {
                                await _server.StopImmediateAsync();
                                crashed.SetResult();
                            }

                            if (i % 40 == 0)
                            {
                                // Spread the load over time so batches land before, during and after the outage.
                                await Task.Delay(1, ct);
                            }
                        }
                    },
                    ct
                )
            )
            .ToArray();
        await crashed.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
        // Wait until the writer has noticed the outage and spilled, then bring the server back.
        for (var waited = 0; writer.Metrics.Spilled == 0; waited++)
        {
            Assert.True(waited < 6_000, "the writer did not spill within 60 s of the crash");
            await Task.Delay(10, ct);
        }

        await _server.StartAsync();
        await Task.WhenAll(produce).WaitAsync(TimeSpan.FromSeconds(60), ct);
        // The writer must replay by itself once its probe succeeds (not only at shutdown).
        for (var waited = 0; writer.Metrics.Written < n; waited++)
        {
            Assert.True(waited < 6_000, $"{writer.Metrics.Written} of {n} records written within 120 s of the restart");
            await Task.Delay(20, ct);
        }

        await writer.StopAsync(ct);
        var (toolRows, toolIds) = await store.CountAuditAsync(AuditKind.McpToolCall, ct);
        var (llmRows, llmIds) = await store.CountAuditAsync(AuditKind.LlmInteraction, ct);
        output.WriteLine($"spilled {writer.Metrics.Spilled}, written {writer.Metrics.Written}, write errors {writer.Metrics.WriteErrors}");
        Assert.Equal((15_000L, 15_000L), (toolRows, toolIds));
        Assert.Equal((5_000L, 5_000L), (llmRows, llmIds));
        Assert.True(writer.Metrics.WriteErrors > 0);
        Assert.Empty(Directory.GetFiles(options.SpillDirectory, "*.spill"));
    }

    [Fact(Timeout = 300_000)]
    public async Task Stop_while_postgres_is_down_drains_to_the_spill_and_the_next_writer_replays_it()
    {
        var ct = TestContext.Current.CancellationToken;
        var options = new StorageOptions
        {
            DatabaseUrl = await _server.CreateDatabaseAsync(),
            SpillDirectory = Path.Combine(_work, "spill2"),
            FlushInterval = TimeSpan.FromSeconds(30),
            MinProbeInterval = TimeSpan.FromMilliseconds(50),
            RetentionDays = 0,
        };
        await using var store = await ArchestraStore.OpenAsync(options, cancellationToken: ct);
        var writer = store.CreateAuditWriter();
        writer.Start();
        await _server.StopImmediateAsync();
        for (var i = 0; i < 3_000; i++)
        {
            writer.Enqueue(Records.ToolCall(i));
        }

        await writer.StopAsync(ct);
        Assert.Equal(3_000, writer.Metrics.Spilled);
        Assert.NotEmpty(Directory.GetFiles(options.SpillDirectory, "*.spill"));

        await _server.StartAsync();
        var next = store.CreateAuditWriter();
        next.Start();
        await next.StopAsync(ct);
        Assert.Equal((3_000L, 3_000L), await store.CountAuditAsync(AuditKind.McpToolCall, ct));
        Assert.Empty(Directory.GetFiles(options.SpillDirectory, "*.spill"));
    }

    [Fact(Timeout = 300_000)]
    public async Task After_kill_9_at_most_one_flush_interval_one_write_deadline_and_one_batch_of_enqueued_records_are_missing()
    {
        var ct = TestContext.Current.CancellationToken;
        // The defaults: a record is in the database or the spill within one flush interval plus one write deadline.
        const int rate = 10_000,
            flushMs = 100,
            deadlineMs = 200,
            batch = 1_000;
        var url = await _server.CreateDatabaseAsync();
        var spill = Path.Combine(_work, "kill-spill");
        var child = Path.Combine(
            AppContext.BaseDirectory.Replace(
                Path.Combine("tests", "Archestra.Storage.Tests"),
                Path.Combine("bench", "Archestra.AuditBench"),
                StringComparison.Ordinal
            ),
            "Archestra.AuditBench.dll"
        );
        Assert.True(File.Exists(child), "the bench (kill -9 child) is built with this project: " + child);

        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (
            var a in (string[])
                [
                    child,
                    "kill-child",
                    "--url",
                    url,
                    "--spill",
                    spill,
                    "--rate",
                    rate.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    "--flush-ms",
                    flushMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    "--deadline-ms",
                    deadlineMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ]
        )
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        long lastEnqueued = 0;
        var ready = new TaskCompletionSource();
        _ = Task.Run(
            async () =>
            {
                while (await process.StandardOutput.ReadLineAsync(ct) is { } line)
                {
                    if (line == "ready")
                    {
                        ready.TrySetResult();
                    }
                    else if (line.StartsWith("enqueued ", StringComparison.Ordinal))
                    {
                        Volatile.Write(ref lastEnqueued, long.Parse(line.AsSpan(9), System.Globalization.CultureInfo.InvariantCulture));
                    }
                }
            },
            ct
        );
        await ready.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
        // Run for a while (about 2 s at 10k/s), then SIGKILL mid-stream.
        for (var waited = 0; Volatile.Read(ref lastEnqueued) < 20_000; waited++)
        {
            Assert.True(
                waited < 6_000 && !process.HasExited,
                $"the child enqueued {Volatile.Read(ref lastEnqueued)} records within 60 s (exited: {process.HasExited})"
            );
            await Task.Delay(10, ct);
        }

        process.Kill();
        await process.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(30), ct);
        var reported = Volatile.Read(ref lastEnqueued);

        // Whatever the child spilled before dying is replayed by the next writer, as on a real restart.
        await using var store = await ArchestraStore.OpenAsync(
            new StorageOptions
            {
                DatabaseUrl = url,
                SpillDirectory = spill,
                RetentionDays = 0,
            },
            cancellationToken: ct
        );
        var writer = store.CreateAuditWriter();
        writer.Start();
        await writer.StopAsync(ct);

        var page = await store.ListToolCallsAsync(new ToolCallQuery { Profile = "kill", Limit = 1 }, ct);
        var rows = 0L;
        string? cursor = null;
        do
        {
            var p = await store.ListToolCallsAsync(
                new ToolCallQuery
                {
                    Profile = "kill",
                    Limit = 1_000,
                    Cursor = cursor,
                },
                ct
            );
            rows += p.Items.Count(r => r.RequestBytes <= reported);
            cursor = p.NextCursor;
        } while (cursor is not null);

        var missing = reported - rows;
        var bound = (rate * (flushMs + deadlineMs) / 1000) + batch;
        output.WriteLine(
            $"kill -9 after {reported} reported enqueues at {rate}/s: {missing} missing (bound {bound}: one {flushMs} ms flush interval + "
                + $"one {deadlineMs} ms write deadline + one batch)"
        );
        Assert.NotEmpty(page.Items);
        Assert.InRange(missing, 0, bound);
    }
}
