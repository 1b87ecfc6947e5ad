using Archestra.Storage.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Archestra.Storage.Tests;

/// <summary>
/// A database that stalls instead of failing: a write lock held by another connection (SQLite, and PostgreSQL's
/// <c>LOCK TABLE</c>) or a frozen server (SIGSTOP). The writer must move every record to the spill file while the stall
/// lasts, never piling them up in memory where kill -9 would take them, and once the stall ends write each record
/// exactly once, including batches whose cancelled writes commit late. This class has its own PostgreSQL because it
/// freezes it. Every wait is bounded well below the 30 s a stalled write used to block the writer.
/// </summary>
public sealed class StallTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly PostgresServer _server = new();
    private readonly string _work = Directory.CreateTempSubdirectory("archestra-stall-").FullName;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => _server.InitializeAsync();

    public async ValueTask DisposeAsync()
    {
        SqliteConnection.ClearAllPools();
        await _server.DisposeAsync();
        Directory.Delete(_work, recursive: true);
    }

    [Fact]
    public async Task While_another_connection_holds_the_sqlite_write_lock_new_records_go_to_the_spill_and_are_written_once_after()
    {
        var options = Options(new StorageOptions { SqlitePath = Path.Combine(_work, "db", "archestra.db") }, "sqlite-spill");
        await RunStallAsync(options, async () =>
        {
            var holder = new SqliteConnection($"Data Source={options.SqlitePath};Pooling=False");
            await holder.OpenAsync(Ct);
            await using var begin = holder.CreateCommand();
            begin.CommandText = "BEGIN EXCLUSIVE";
            await begin.ExecuteNonQueryAsync(Ct);
            return holder;
        });
    }

    [Fact]
    public async Task While_another_session_holds_an_access_exclusive_lock_on_the_postgres_table_new_records_go_to_the_spill_and_are_written_once_after()
    {
        var options = Options(new StorageOptions { DatabaseUrl = await _server.CreateDatabaseAsync() }, "pg-lock-spill");
        await RunStallAsync(options, async () =>
        {
            var url = PostgresServer.ConnectionString(options.DatabaseUrl!);
            var holder = new NpgsqlConnection(url);
            await holder.OpenAsync(Ct);
            await using var lockTable = new NpgsqlCommand("BEGIN; LOCK TABLE mcp_tool_calls IN ACCESS EXCLUSIVE MODE", holder);
            await lockTable.ExecuteNonQueryAsync(Ct);
            return holder;
        });
    }

    [Fact]
    public async Task While_the_postgres_server_is_frozen_with_SIGSTOP_new_records_go_to_the_spill_and_are_written_once_after_SIGCONT()
    {
        var options = Options(new StorageOptions { DatabaseUrl = await _server.CreateDatabaseAsync() }, "pg-stop-spill");
        await RunStallAsync(options, async () =>
        {
            await _server.SignalServerAsync("STOP");
            return new Resume(() => _server.SignalServerAsync("CONT"));
        });
    }

    [Fact]
    public async Task A_write_abandoned_at_its_deadline_that_commits_after_the_lock_is_released_leaves_each_record_once()
    {
        const int n = 200;
        // A slow first probe, so the abandoned write's late commit is seen before the replay writes the batch again.
        var options = Options(new StorageOptions { SqlitePath = Path.Combine(_work, "late", "archestra.db") }, "late-spill") with
        {
            MinProbeInterval = TimeSpan.FromSeconds(3),
        };
        await using var store = await ArchestraStore.OpenAsync(options, cancellationToken: Ct);
        var writer = store.CreateAuditWriter();
        writer.Start();
        await using (var holder = new SqliteConnection($"Data Source={options.SqlitePath};Pooling=False"))
        {
            await holder.OpenAsync(Ct);
            await using var begin = holder.CreateCommand();
            begin.CommandText = "BEGIN EXCLUSIVE";
            await begin.ExecuteNonQueryAsync(Ct);
            for (var i = 0; i < n; i++)
            {
                writer.Enqueue(Records.ToolCall(i));
            }

            // Spilled at its deadline; its write keeps retrying the lock (up to 1 s) in the background.
            await WaitUntilAsync(() => writer.Metrics.Spilled >= n, "the batch is spilled at its deadline");
        }

        // Lock released: the abandoned write commits, although its batch is already in the spill.
        await WaitUntilAsync(() => CountRows(options.SqlitePath) == n, "the abandoned write commits late");
        Assert.Equal(0, writer.Metrics.Written);

        // Then the replay writes the same batch again: nothing is added twice.
        await WaitUntilAsync(() => writer.Metrics.Written >= n, "the spill is replayed");
        await writer.StopAsync(Ct);
        await writer.DisposeAsync();
        Assert.Equal(((long)n, (long)n), await store.CountAuditAsync(AuditKind.McpToolCall, Ct));
        Assert.Empty(Directory.GetFiles(options.SpillDirectory, "*.spill"));
    }

    private static long CountRows(string path)
    {
        using var connection = new SqliteConnection($"Data Source={path};Pooling=False;Mode=ReadOnly");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM mcp_tool_calls";
        return (long)command.ExecuteScalar()!;
    }

    private StorageOptions Options(StorageOptions database, string spill) =>
        database with
        {
            SpillDirectory = Path.Combine(_work, spill),
            FlushInterval = TimeSpan.FromMilliseconds(20),
            WriteDeadline = TimeSpan.FromMilliseconds(100),
            BatchSize = 200,
            MinProbeInterval = TimeSpan.FromMilliseconds(50),
            MaxProbeInterval = TimeSpan.FromMilliseconds(200),
            RetentionDays = 0,
        };

    /// <summary>
    /// Writes a first lot with the database healthy, stalls it with <paramref name="stall"/> (disposing the result
    /// ends the stall), enqueues the rest over a few hundred milliseconds, and checks that all of them reach the spill
    /// while the stall lasts, then that every record is in the database exactly once after it.
    /// </summary>
    private async Task RunStallAsync(StorageOptions options, Func<Task<IAsyncDisposable>> stall)
    {
        const int before = 1_000,
            during = 4_000;
        await using var store = await ArchestraStore.OpenAsync(options, cancellationToken: Ct);
        var writer = store.CreateAuditWriter();
        writer.Start();
        for (var i = 0; i < before; i++)
        {
            writer.Enqueue(Records.ToolCall(i));
        }

        await WaitUntilAsync(() => writer.Metrics.Written >= before, "the healthy records are written");
        var holder = await stall();
        var released = false;
        try
        {
            for (var i = before; i < before + during; i++)
            {
                writer.Enqueue(Records.ToolCall(i));
                if (i % 100 == 0)
                {
                    // Spread over time, so batches meet the stall in flight, waiting for a connection and being filled.
                    await Task.Delay(5, Ct);
                }
            }

            // The point of the test: with the stall still on, nothing is left in memory, everything is on disk.
            await WaitUntilAsync(
                () => writer.Metrics.Spilled >= during && writer.Metrics.QueueDepth == 0,
                "every record enqueued during the stall is in the spill file"
            );
            output.WriteLine(
                $"during the stall: spilled {writer.Metrics.Spilled}, written {writer.Metrics.Written}, queue {writer.Metrics.QueueDepth}, "
                    + $"write errors {writer.Metrics.WriteErrors}"
            );
            Assert.Equal(before, writer.Metrics.Written);

            await holder.DisposeAsync();
            released = true;

            // The writer replays by itself once the database takes writes again (not only at shutdown).
            await WaitUntilAsync(() => writer.Metrics.Written >= before + during, "the spill is replayed after the stall");
            await writer.StopAsync(Ct);
        }
        finally
        {
            if (!released)
            {
                await holder.DisposeAsync();
            }

            await writer.DisposeAsync();
        }

        output.WriteLine($"after: spilled {writer.Metrics.Spilled}, written {writer.Metrics.Written}, write errors {writer.Metrics.WriteErrors}");
        Assert.Equal(((long)(before + during), (long)(before + during)), await store.CountAuditAsync(AuditKind.McpToolCall, Ct));
        Assert.Empty(Directory.GetFiles(options.SpillDirectory, "*.spill"));
        Assert.True(writer.Metrics.WriteErrors > 0);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(Bound);
        try
        {
            while (!condition())
            {
                await Task.Delay(10, timeout.Token);
            }
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
            Assert.Fail($"Not within {Bound.TotalSeconds} s: {what}.");
        }
    }

    private sealed class Resume(Func<Task> resume) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await resume();
    }
}
