using System.Security.Cryptography;
using Archestra.Storage.Tests.Infrastructure;

namespace Archestra.Storage.Tests;

/// <summary>
/// One contract, two databases: every test runs against SQLite (<see cref="SqliteStoreTests"/>) and PostgreSQL
/// (<see cref="PostgresStoreTests"/>), each test on a fresh database.
/// </summary>
public abstract class StoreContractTests : IAsyncLifetime
{
    private readonly string _work = Directory.CreateTempSubdirectory("archestra-store-").FullName;
    private readonly List<ArchestraStore> _stores = [];

    protected string SpillDirectory => Path.Combine(_work, "spill");

    protected StorageOptions Options { get; private set; } = new();

    /// <summary>Options pointing at a fresh, empty database.</summary>
    protected abstract Task<StorageOptions> FreshDatabaseAsync(string work);

    public async ValueTask InitializeAsync()
    {
        Options = (await FreshDatabaseAsync(_work)) with
        {
            SpillDirectory = SpillDirectory,
            FlushInterval = TimeSpan.FromMilliseconds(20),

            // The contract, not the stall path (StallTests): on a loaded machine a commit can take longer than the
            // 200 ms default, and a spilled batch would fail the "nothing spilled" check of Records.WriteAllAsync.
            WriteDeadline = TimeSpan.FromSeconds(30),
            MinProbeInterval = TimeSpan.FromMilliseconds(50),
            MaxProbeInterval = TimeSpan.FromMilliseconds(500),
            RetentionDays = 0,
            SecretKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
        };
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }

        Directory.Delete(_work, recursive: true);
    }

    protected async Task<ArchestraStore> OpenAsync(StorageOptions? options = null)
    {
        var store = await ArchestraStore.OpenAsync(options ?? Options, cancellationToken: TestContext.Current.CancellationToken);
        _stores.Add(store);
        return store;
    }

    [Fact]
    public async Task Migrations_are_recorded_once_each_and_opening_again_applies_nothing()
    {
        var store = await OpenAsync();
        await OpenAsync();
        var applied = await store.GetAppliedMigrationsAsync(TestContext.Current.CancellationToken);
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8], applied.Select(m => m.Version));
        Assert.Equal(
            [
                "resources",
                "audit",
                "llm-limits-total",
                "discovered-tools-by-server-name",
                "llm-cost-nullable",
                "audit-agent-correlation",
                "spent-request-states",
                "session-taints",
            ],
            applied.Select(m => m.Name)
        );
        Assert.All(applied, m => Assert.InRange(m.AppliedAt, DateTime.UtcNow.AddMinutes(-5), DateTime.UtcNow.AddMinutes(1)));
    }

    [Fact]
    public async Task A_spent_request_state_is_spent_once_across_stores_of_one_database_and_old_ones_are_deleted()
    {
        var ct = TestContext.Current.CancellationToken;
        var one = await OpenAsync();
        var other = await OpenAsync();
        var now = DateTime.UtcNow;
        var nonce = RandomNumberGenerator.GetBytes(16);
        Assert.True(await one.SpentStates.TrySpendAsync(nonce, now.AddMinutes(2), now, ct));
        Assert.False(await one.SpentStates.TrySpendAsync(nonce, now.AddMinutes(2), now, ct));
        Assert.False(await other.SpentStates.TrySpendAsync(nonce, now.AddMinutes(2), now, ct));
        Assert.True(await other.SpentStates.TrySpendAsync(RandomNumberGenerator.GetBytes(16), now.AddMinutes(2), now, ct));

        // Kept past its expiry for the clock-skew margin, deleted after it (by the next spend).
        var later = now.AddMinutes(2) + SpentStateRepository.ClockSkewMargin - TimeSpan.FromSeconds(1);
        Assert.False(await one.SpentStates.TrySpendAsync(nonce, now.AddMinutes(2), later, ct));
        var afterMargin = now.AddMinutes(2) + SpentStateRepository.ClockSkewMargin + TimeSpan.FromSeconds(1);
        Assert.True(await one.SpentStates.TrySpendAsync(RandomNumberGenerator.GetBytes(16), afterMargin.AddMinutes(2), afterMargin, ct));
        Assert.True(await one.SpentStates.TrySpendAsync(nonce, afterMargin.AddMinutes(2), afterMargin, ct));
    }

    [Fact]
    public async Task A_session_taint_is_seen_by_every_store_of_the_database_keeps_its_first_tool_and_expires()
    {
        var ct = TestContext.Current.CancellationToken;
        var one = await OpenAsync();
        var other = await OpenAsync();
        var now = DateTime.UtcNow;
        var session = RandomNumberGenerator.GetBytes(32);
        Assert.Null(await other.SessionTaints.FindAsync(session, now, ct));
        await one.SessionTaints.RecordAsync(session, "web__fetch", now, now.AddHours(1), ct);
        await one.SessionTaints.RecordAsync(session, "web__other", now, now.AddHours(1), ct);
        Assert.Equal("web__fetch", await other.SessionTaints.FindAsync(session, now, ct));
        Assert.Null(await other.SessionTaints.FindAsync(RandomNumberGenerator.GetBytes(32), now, ct));

        // Past its expiry it no longer counts, and the next record deletes it.
        Assert.Null(await other.SessionTaints.FindAsync(session, now.AddHours(2), ct));
        await other.SessionTaints.RecordAsync(session, "web__later", now.AddHours(2), now.AddHours(3), ct);
        Assert.Equal("web__later", await one.SessionTaints.FindAsync(session, now.AddHours(2), ct));
    }

    [Fact]
    public async Task Two_migrators_starting_together_on_a_fresh_database_both_succeed_and_each_version_is_applied_once()
    {
        var opens = Enumerable.Range(0, 2).Select(_ => OpenAsync()).ToArray();
        var stores = await Task.WhenAll(opens);
        var applied = await stores[0].GetAppliedMigrationsAsync(TestContext.Current.CancellationToken);
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8], applied.Select(m => m.Version));
    }

    [Fact]
    public async Task Discovered_tools_keep_their_first_seen_time_and_update_the_rest()
    {
        var ct = TestContext.Current.CancellationToken;
        var store = await OpenAsync();
        var first = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        await store.RecordDiscoveredToolsAsync("files", [("read", "Reads a file", """{"type":"object"}"""), ("write", null, "{}")], first, ct);
        var later = first.AddHours(2);
        await store.RecordDiscoveredToolsAsync("files", [("read", "Reads a file (v2)", """{"type":"object","required":["path"]}""")], later, ct);
        await store.RecordDiscoveredToolsAsync("mail", [("send", "Sends", "{}")], later, ct);

        var files = await store.ListDiscoveredToolsAsync("files", ct);
        Assert.Equal(["read", "write"], files.Select(t => t.Name));
        var read = files[0];
        Assert.Equal(("Reads a file (v2)", first, later), (read.Description, read.FirstSeen, read.LastSeen));
        Assert.Equal("path", System.Text.Json.JsonDocument.Parse(read.InputSchemaJson).RootElement.GetProperty("required")[0].GetString());

        // A tool the server stopped listing keeps its row and its old last-seen time.
        Assert.Equal((null, first), (files[1].Description, files[1].LastSeen));
        Assert.Equal(3, (await store.ListDiscoveredToolsAsync(cancellationToken: ct)).Count);
    }

    [Fact]
    public async Task Replaying_a_batch_never_duplicates_a_row()
    {
        var store = await OpenAsync();
        var batch = new List<AuditRecord>();
        for (var i = 0; i < 300; i++)
        {
            batch.Add(i % 3 == 0 ? Records.Llm(i) : Records.ToolCall(i));
        }

        await using (var sink = store.CreateAuditSink())
        {
            await sink.WriteAsync(batch, replay: false, TestContext.Current.CancellationToken);
            // Not flagged as a replay: the fast path meets the duplicates and falls back to the idempotent path.
            await sink.WriteAsync(batch, replay: false, TestContext.Current.CancellationToken);
            // A replayed batch that overlaps new records: only the new ones are added.
            var overlap = batch.Take(50).Concat(Enumerable.Range(300, 10).Select(i => (AuditRecord)Records.ToolCall(i))).ToList();
            await sink.WriteAsync(overlap, replay: true, TestContext.Current.CancellationToken);
        }

        Assert.Equal((210L, 210L), await store.CountAuditAsync(AuditKind.McpToolCall, TestContext.Current.CancellationToken));
        Assert.Equal((100L, 100L), await store.CountAuditAsync(AuditKind.LlmInteraction, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task The_writer_writes_every_enqueued_record_and_stop_drains_the_queue()
    {
        var store = await OpenAsync(Options with { BatchSize = 250, FlushInterval = TimeSpan.FromSeconds(30) });
        var writer = store.CreateAuditWriter();
        writer.Start();
        const int n = 5_000;
        await Task.WhenAll(
            Enumerable
                .Range(0, 4)
                .Select(t =>
                    Task.Run(() =>
                    {
                        for (var i = t; i < n; i += 4)
                        {
                            writer.Enqueue(i % 5 == 0 ? Records.Llm(i) : Records.ToolCall(i));
                        }
                    })
                )
        );

        // The flush interval is 30 s: only StopAsync's drain can have written the tail of the last batch.
        await writer.StopAsync(TestContext.Current.CancellationToken);
        Assert.Equal((4_000L, 4_000L), await store.CountAuditAsync(AuditKind.McpToolCall, TestContext.Current.CancellationToken));
        Assert.Equal((1_000L, 1_000L), await store.CountAuditAsync(AuditKind.LlmInteraction, TestContext.Current.CancellationToken));
        Assert.Equal(n, writer.Metrics.Written);
        Assert.Equal(0, writer.Metrics.Spilled);
        Assert.Equal(0, writer.Metrics.QueueDepth);
    }

    [Fact]
    public async Task A_full_channel_overflows_to_the_spill_and_every_record_is_replayed_exactly_once()
    {
        var store = await OpenAsync(Options with { ChannelCapacity = 100, BatchSize = 100 });
        var writer = store.CreateAuditWriter();
        const int n = 20_000;
        var overflowed = 0;
        // Not started yet: the channel holds 100 and every other record must take the spill path.
        for (var i = 0; i < n; i++)
        {
            if (!writer.Enqueue(Records.ToolCall(i)))
            {
                overflowed++;
            }
        }

        Assert.Equal(n - 100, overflowed);
        Assert.Equal(n - 100, writer.Metrics.Spilled);
        writer.Start();
        await writer.StopAsync(TestContext.Current.CancellationToken);
        Assert.Equal(((long)n, (long)n), await store.CountAuditAsync(AuditKind.McpToolCall, TestContext.Current.CancellationToken));
        Assert.Empty(Directory.GetFiles(SpillDirectory, "*.spill"));
    }

    [Fact]
    public async Task An_unknown_cost_stays_null_through_the_spill_and_the_store_and_adds_nothing_to_usage()
    {
        var store = await OpenAsync();
        Directory.CreateDirectory(SpillDirectory);
        var records = Enumerable.Range(0, 6).Select(i => Records.Llm(i, profile: "nulls", cost: i % 2 == 0 ? null : 0.25m)).ToList();
        var spill = new AuditSpill(SpillDirectory);
        spill.AppendBatch(records.Cast<AuditRecord>().ToList());
        spill.Close();

        var writer = store.CreateAuditWriter();
        writer.Start();
        await writer.StopAsync(TestContext.Current.CancellationToken);

        var read = await store.ListLlmInteractionsAsync(new LlmInteractionQuery { Limit = 100, Descending = false }, TestContext.Current.CancellationToken);
        Assert.Equal(records.Select(r => r.Cost), read.Items.Select(r => r.Cost));
        Assert.Equal([null, 0.25m, null, 0.25m, null, 0.25m], read.Items.Select(r => r.Cost));
        var usage = Assert.Single(
            await store.GetUsageAsync(Records.Epoch.AddDays(-1), Records.Epoch.AddDays(1), "nulls", TestContext.Current.CancellationToken)
        );
        Assert.Equal((6L, 0.75m), (usage.Requests, usage.Cost));

        // A day of unpriced interactions only: the sum is 0, not a failure to read NULL.
        await Records.WriteAllAsync(store, [Records.Llm(100, Records.Epoch.AddDays(3), profile: "nulls", cost: null)]);
        var unpriced = Assert.Single(
            await store.GetUsageAsync(Records.Epoch.AddDays(3), Records.Epoch.AddDays(4), "nulls", TestContext.Current.CancellationToken)
        );
        Assert.Equal((1L, 0m), (unpriced.Requests, unpriced.Cost));
    }

    [Fact]
    public async Task Usage_totals_sum_tokens_and_cost_of_one_profile_for_its_day_month_and_all_time()
    {
        var store = await OpenAsync();
        var now = new DateTime(2026, 3, 15, 12, 0, 0, DateTimeKind.Utc);
        LlmInteractionRecord At(DateTime time, long input, long output, decimal? cost, string profile = "p") =>
            new()
            {
                Id = Guid.CreateVersion7(time),
                Time = time,
                Profile = profile,
                Provider = "openai",
                RequestedModel = "m",
                InputTokens = input,
                OutputTokens = output,
                Cost = cost,
            };
        await Records.WriteAllAsync(
            store,
            [
                At(now.AddHours(-1), 10, 1, 0.5m), // today
                At(now.AddHours(-11.5), 20, 2, null), // today, unpriced
                At(now.AddDays(-3), 100, 10, 1.25m), // this month
                At(new DateTime(2026, 2, 28, 23, 59, 59, DateTimeKind.Utc), 1000, 100, 2m), // last month
                At(now.AddHours(-1), 5000, 5000, 9m, profile: "other"),
            ]
        );

        var totals = await store.GetUsageTotalsAsync("p", now, TestContext.Current.CancellationToken);
        Assert.Equal(new Archestra.Policy.Llm.PeriodUsage(33, 0.5m), totals.Day);
        Assert.Equal(new Archestra.Policy.Llm.PeriodUsage(143, 1.75m), totals.Month);
        Assert.Equal(new Archestra.Policy.Llm.PeriodUsage(1243, 3.75m), totals.Total);
        Assert.Equal(default, await store.GetUsageTotalsAsync("nobody", now, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_corrupt_spill_tail_is_skipped_and_the_rest_is_replayed()
    {
        var store = await OpenAsync();
        Directory.CreateDirectory(SpillDirectory);
        var spill = new AuditSpill(SpillDirectory);
        spill.AppendBatch(Enumerable.Range(0, 500).Select(i => (AuditRecord)Records.ToolCall(i)).ToList());
        spill.AppendBatch(Enumerable.Range(500, 10).Select(i => (AuditRecord)Records.Llm(i)).ToList());
        spill.Close();
        var file = Assert.Single(Directory.GetFiles(SpillDirectory, "*.spill"));
        // A crash mid-write: half a frame at the end.
        var torn = new byte[40];
        torn[0] = 200;
        await File.AppendAllBytesAsync(file, torn, TestContext.Current.CancellationToken);

        var writer = store.CreateAuditWriter();
        writer.Start();
        await writer.StopAsync(TestContext.Current.CancellationToken);
        Assert.Equal((500L, 500L), await store.CountAuditAsync(AuditKind.McpToolCall, TestContext.Current.CancellationToken));
        Assert.Equal((10L, 10L), await store.CountAuditAsync(AuditKind.LlmInteraction, TestContext.Current.CancellationToken));
        Assert.Empty(Directory.GetFiles(SpillDirectory, "*.spill"));
    }

    [Fact]
    public async Task Tool_call_pages_walk_every_row_exactly_once_in_both_directions()
    {
        var store = await OpenAsync();
        // Pairs of rows share a timestamp, so the id breaks ties inside the cursor.
        var records = Enumerable.Range(0, 251).Select(i => Records.ToolCall(i, Records.Epoch.AddSeconds(i / 2))).ToList();
        await Records.WriteAllAsync(store, records);
        var ordered = records.OrderBy(r => r.Time).ThenBy(r => r.Id).Select(r => r.Id).ToList();

        foreach (var descending in new[] { true, false })
        {
            var seen = new List<Guid>();
            string? cursor = null;
            var pages = 0;
            do
            {
                var page = await store.ListToolCallsAsync(
                    new ToolCallQuery
                    {
                        Limit = 40,
                        Cursor = cursor,
                        Descending = descending,
                    },
                    TestContext.Current.CancellationToken
                );
                seen.AddRange(page.Items.Select(r => r.Id));
                cursor = page.NextCursor;
                pages++;
            } while (cursor is not null);

            Assert.Equal(7, pages);
            Assert.Equal(descending ? Enumerable.Reverse(ordered) : ordered, seen);
        }
    }

    [Fact]
    public async Task Tool_call_rows_round_trip_every_field()
    {
        var store = await OpenAsync(Options with { MaxArgumentBytes = 10 });
        var record = Records.ToolCall(7, outcome: "error");
        var long_ = new McpToolCallRecord
        {
            Profile = "p2",
            Server = "s",
            Tool = "t",
            Arguments = "{\"text\":\"héllo wörld\"}",
        };
        await Records.WriteAllAsync(store, [record, long_]);

        var page = await store.ListToolCallsAsync(new ToolCallQuery { Profile = "p1" }, TestContext.Current.CancellationToken);
        var read = Assert.Single(page.Items);
        Assert.Null(page.NextCursor);
        Assert.Equivalent(record, read, strict: true);

        // Arguments are cut to MaxArgumentBytes on a UTF-8 character boundary: {"text":"h (10 bytes) then é would split.
        var cut = Assert.Single((await store.ListToolCallsAsync(new ToolCallQuery { Profile = "p2" }, TestContext.Current.CancellationToken)).Items);
        Assert.Equal("{\"text\":\"h", cut.Arguments);
        Assert.Equal(long_.Time, cut.Time);
    }

    [Fact]
    public async Task Tool_call_filters_select_exactly_the_matching_rows()
    {
        var store = await OpenAsync();
        var records = new List<McpToolCallRecord>();
        string[] profiles = ["alpha", "beta"],
            servers = ["fs", "web"],
            tools = ["read", "write"],
            outcomes = ["ok", "error", "denied"];
        for (var i = 0; i < 120; i++)
        {
            records.Add(Records.ToolCall(i, Records.Epoch.AddMinutes(i), profiles[i % 2], servers[i / 2 % 2], tools[i / 4 % 2], outcomes[i % 3]));
        }

        await Records.WriteAllAsync(store, records);

        async Task Check(ToolCallQuery query, Func<McpToolCallRecord, bool> expected)
        {
            var page = await store.ListToolCallsAsync(query with { Limit = 1000 }, TestContext.Current.CancellationToken);
            Assert.Equal(records.Where(expected).OrderByDescending(r => r.Time).Select(r => r.Id), page.Items.Select(r => r.Id));
        }

        await Check(new ToolCallQuery { Profile = "beta" }, r => r.Profile == "beta");
        await Check(new ToolCallQuery { Server = "web" }, r => r.Server == "web");
        await Check(new ToolCallQuery { Tool = "write" }, r => r.Tool == "write");
        await Check(new ToolCallQuery { Outcome = "denied" }, r => r.Outcome == "denied");
        await Check(new ToolCallQuery { From = Records.Epoch.AddMinutes(30), To = Records.Epoch.AddMinutes(45) }, r =>
            r.Time >= Records.Epoch.AddMinutes(30) && r.Time < Records.Epoch.AddMinutes(45)
        );
        await Check(
            new ToolCallQuery
            {
                Profile = "alpha",
                Server = "fs",
                Tool = "read",
                Outcome = "ok",
                From = Records.Epoch.AddMinutes(10),
            },
            r => r.Profile == "alpha" && r.Server == "fs" && r.Tool == "read" && r.Outcome == "ok" && r.Time >= Records.Epoch.AddMinutes(10)
        );
        await Check(new ToolCallQuery { Profile = "nobody" }, _ => false);
        await Check(new ToolCallQuery { AgentId = "agent-1" }, r => r.AgentId == "agent-1");
        await Check(new ToolCallQuery { AgentSessionId = "conversation-3", Profile = "alpha" }, r =>
            r.AgentSessionId == "conversation-3" && r.Profile == "alpha"
        );
    }

    [Fact]
    public async Task Llm_interactions_round_trip_and_filter_by_provider_model_and_status()
    {
        var store = await OpenAsync();
        var records = Enumerable
            .Range(0, 40)
            .Select(i =>
                Records.Llm(
                    i,
                    Records.Epoch.AddMinutes(i),
                    profile: i % 2 == 0 ? "a" : "b",
                    model: i % 4 < 2 ? "gpt-4o" : "claude",
                    cost: 0.0000000001m * i + 1.5m,
                    status: i % 5 == 0 ? "error" : "ok"
                )
            )
            .ToList();
        await Records.WriteAllAsync(store, records);

        var all = await store.ListLlmInteractionsAsync(new LlmInteractionQuery { Limit = 1000, Descending = false }, TestContext.Current.CancellationToken);
        Assert.Equal(records.Count, all.Items.Count);
        for (var i = 0; i < records.Count; i++)
        {
            Assert.Equivalent(records[i], all.Items[i], strict: true);
        }

        var claudeErrors = await store.ListLlmInteractionsAsync(
            new LlmInteractionQuery
            {
                Model = "claude",
                Status = "error",
                Provider = "openai",
                Limit = 1000,
            },
            TestContext.Current.CancellationToken
        );
        Assert.Equal(
            records
                .Where(r => (r.RequestedModel == "claude" || r.UsedModel == "claude") && r.Status == "error")
                .OrderByDescending(r => r.Time)
                .Select(r => r.Id),
            claudeErrors.Items.Select(r => r.Id)
        );
        Assert.Empty((await store.ListLlmInteractionsAsync(new LlmInteractionQuery { Provider = "anthropic" }, TestContext.Current.CancellationToken)).Items);

        var conversation = await store.ListLlmInteractionsAsync(
            new LlmInteractionQuery
            {
                AgentId = "agent-0",
                AgentSessionId = "conversation-2",
                Limit = 1000,
            },
            TestContext.Current.CancellationToken
        );
        var expected = records.Where(r => r.AgentId == "agent-0" && r.AgentSessionId == "conversation-2").OrderByDescending(r => r.Time).Select(r => r.Id);
        Assert.NotEmpty(expected);
        Assert.Equal(expected, conversation.Items.Select(r => r.Id));
    }

    [Fact]
    public async Task Usage_sums_tokens_and_exact_cost_per_day_profile_and_model()
    {
        var store = await OpenAsync();
        var records = new List<LlmInteractionRecord>();
        for (var i = 0; i < 60; i++)
        {
            // Three days, two profiles, two models; costs with ten decimal places must sum exactly.
            records.Add(
                Records.Llm(i, Records.Epoch.AddHours(i * 1.2), profile: i % 2 == 0 ? "a" : "b", model: i % 3 == 0 ? "m1" : "m2", cost: 0.0123456789m * (i + 1))
            );
        }

        await Records.WriteAllAsync(store, records);
        var from = Records.Epoch;
        var to = Records.Epoch.AddDays(2);
        var usage = await store.GetUsageAsync(from, to, cancellationToken: TestContext.Current.CancellationToken);
        var expected = records
            .Where(r => r.Time >= from && r.Time < to)
            .GroupBy(r => (Day: r.Time.Date, r.Profile, Model: r.UsedModel ?? r.RequestedModel))
            .OrderBy(g => g.Key.Day)
            .ThenBy(g => g.Key.Profile, StringComparer.Ordinal)
            .ThenBy(g => g.Key.Model, StringComparer.Ordinal)
            .Select(g => new UsageRow(
                DateTime.SpecifyKind(g.Key.Day, DateTimeKind.Utc),
                g.Key.Profile,
                g.Key.Model,
                g.LongCount(),
                g.Sum(r => r.InputTokens),
                g.Sum(r => r.OutputTokens),
                g.Sum(r => r.CachedInputTokens),
                g.Sum(r => r.ReasoningTokens),
                g.Sum(r => r.Cost ?? 0m)
            ))
            .ToList();
        Assert.Equal(expected, usage);
        Assert.All(usage, u => Assert.Equal(DateTimeKind.Utc, u.Day.Kind));

        var onlyB = await store.GetUsageAsync(from, to, "b", TestContext.Current.CancellationToken);
        Assert.Equal(expected.Where(u => u.Profile == "b"), onlyB);
    }

    [Fact]
    public async Task Retention_deletes_only_older_rows_in_bounded_batches()
    {
        var store = await OpenAsync(Options with { RetentionBatchSize = 7 });
        var records = new List<AuditRecord>();
        for (var i = 0; i < 100; i++)
        {
            records.Add(Records.ToolCall(i, Records.Epoch.AddMinutes(i)));
            records.Add(Records.Llm(i, Records.Epoch.AddMinutes(i)));
        }

        await Records.WriteAllAsync(store, records);
        var deleted = await store.DeleteAuditBeforeAsync(Records.Epoch.AddMinutes(30), TestContext.Current.CancellationToken);
        Assert.Equal(60, deleted);
        Assert.Equal((70L, 70L), await store.CountAuditAsync(AuditKind.McpToolCall, TestContext.Current.CancellationToken));
        Assert.Equal((70L, 70L), await store.CountAuditAsync(AuditKind.LlmInteraction, TestContext.Current.CancellationToken));
        var oldest = await store.ListToolCallsAsync(new ToolCallQuery { Descending = false, Limit = 1 }, TestContext.Current.CancellationToken);
        Assert.Equal(Records.Epoch.AddMinutes(30), oldest.Items[0].Time);
    }

    [Fact]
    public async Task The_writer_runs_retention_in_the_background()
    {
        var store = await OpenAsync(Options with { RetentionDays = 1, RetentionBatchSize = 3 });
        await Records.WriteAllAsync(
            store,
            [Records.ToolCall(1, DateTime.UtcNow.AddDays(-3)), Records.ToolCall(2, DateTime.UtcNow.AddDays(-2)), Records.ToolCall(3, AuditTimeNow())]
        );
        var writer = store.CreateAuditWriter();
        writer.Start();
        for (var i = 0; i < 200 && (await store.CountAuditAsync(AuditKind.McpToolCall, TestContext.Current.CancellationToken)).Rows != 1; i++)
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        await writer.StopAsync(TestContext.Current.CancellationToken);
        Assert.Equal((1L, 1L), await store.CountAuditAsync(AuditKind.McpToolCall, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task An_invalid_cursor_is_rejected()
    {
        var store = await OpenAsync();
        await Assert.ThrowsAsync<ArgumentException>(() =>
            store.ListToolCallsAsync(new ToolCallQuery { Cursor = "not-a-cursor" }, TestContext.Current.CancellationToken)
        );
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            store.ListToolCallsAsync(new ToolCallQuery { Limit = 0 }, TestContext.Current.CancellationToken)
        );
    }

    [Fact]
    public async Task Profiles_tokens_admin_keys_and_the_change_log_round_trip()
    {
        var store = await OpenAsync();
        var ct = TestContext.Current.CancellationToken;
        var now = AuditTimeNow();
        var profile = new ProfileRow(Guid.CreateVersion7(), "default", "the default profile", "{\"servers\": [\"fs\"]}", ManagedBy.File, now, now);
        await store.Profiles.InsertAsync(profile, ct);
        var read = await store.Profiles.GetAsync("default", ct);
        Assert.NotNull(read);
        Assert.Equal(profile with { SettingsJson = read.SettingsJson }, read);
        Assert.Contains("\"fs\"", read.SettingsJson, StringComparison.Ordinal);
        Assert.Null(await store.Profiles.GetAsync("missing", ct));

        var hash = SecretHash.Compute("arch_secret_token");
        var token = new GatewayTokenRow(Guid.CreateVersion7(), "ci", hash, profile.Id, ManagedBy.Api, now, null);
        await store.GatewayTokens.InsertAsync(token, ct);
        var found = await store.GatewayTokens.FindAsync(SecretHash.Compute("arch_secret_token"), ct);
        Assert.NotNull(found);
        Assert.Equal(token.Id, found.Id);
        Assert.Equal(hash, found.TokenHash);
        Assert.Equal(profile.Id, found.ProfileId);
        Assert.Equal(now, found.CreatedAt);
        Assert.Null(await store.GatewayTokens.FindAsync(SecretHash.Compute("other"), ct));

        var key = new AdminKeyRow(Guid.CreateVersion7(), "ops", SecretHash.Compute("admin-key"), ReadWrite: false, ManagedBy.Api, now, null);
        await store.AdminKeys.InsertAsync(key, ct);
        var foundKey = await store.AdminKeys.FindAsync(SecretHash.Compute("admin-key"), ct);
        Assert.NotNull(foundKey);
        Assert.Equal(key with { KeyHash = foundKey.KeyHash }, foundKey);
        Assert.Equal(key.KeyHash, foundKey.KeyHash);

        var change = new AdminChange(Guid.CreateVersion7(), now, "ops", "create", "profile", profile.Id.ToString(), "{\"name\": \"default\"}");
        await store.AdminChanges.RecordAsync(change, ct);
        var changes = await store.AdminChanges.ListAsync(cancellationToken: ct);
        var logged = Assert.Single(changes);
        Assert.Equal(change with { DetailsJson = logged.DetailsJson }, logged);
    }

    [Fact]
    public async Task Provider_keys_are_stored_encrypted_and_read_back()
    {
        var store = await OpenAsync();
        var ct = TestContext.Current.CancellationToken;
        var now = AuditTimeNow();
        var provider = new LlmProviderRow(Guid.CreateVersion7(), "openai", "openai", "https://api.openai.com/v1", ManagedBy.Api, now, now);
        await store.LlmProviders.InsertAsync(provider, ct);
        await store.LlmProviders.SetKeyAsync(provider.Id, "primary", "sk-test-1234567890", ManagedBy.Api, ct);

        var sealedKey = await store.LlmProviders.GetSealedKeyAsync(provider.Id, "primary", ct);
        Assert.NotNull(sealedKey);
        Assert.Equal(store.Secrets!.KeyId, sealedKey.KeyId);
        Assert.Equal(12, sealedKey.Nonce.Length);
        Assert.DoesNotContain("sk-test", System.Text.Encoding.Latin1.GetString(sealedKey.Ciphertext), StringComparison.Ordinal);
        Assert.Equal("sk-test-1234567890", await store.LlmProviders.GetKeyAsync(provider.Id, "primary", ct));

        // Setting it again replaces it (one row per provider and name).
        await store.LlmProviders.SetKeyAsync(provider.Id, "primary", "sk-rotated", ManagedBy.Api, ct);
        Assert.Equal("sk-rotated", await store.LlmProviders.GetKeyAsync(provider.Id, "primary", ct));
        Assert.Null(await store.LlmProviders.GetKeyAsync(provider.Id, "other", ct));
    }

    [Fact]
    public async Task Storing_a_provider_key_without_a_secret_key_is_refused_with_a_clear_message()
    {
        var store = await OpenAsync(Options with { SecretKey = null });
        var now = AuditTimeNow();
        var provider = new LlmProviderRow(Guid.CreateVersion7(), "anthropic", "anthropic", null, ManagedBy.Api, now, now);
        await store.LlmProviders.InsertAsync(provider, TestContext.Current.CancellationToken);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            store.LlmProviders.SetKeyAsync(provider.Id, "primary", "sk-x", ManagedBy.Api, TestContext.Current.CancellationToken)
        );
        Assert.Contains("ARCHESTRA_SECRET_KEY is not set", e.Message, StringComparison.Ordinal);
        Assert.Null(await store.LlmProviders.GetSealedKeyAsync(provider.Id, "primary", TestContext.Current.CancellationToken));
    }

    private static DateTime AuditTimeNow()
    {
        var now = DateTime.UtcNow;
        return new DateTime(now.Ticks - (now.Ticks % TimeSpan.TicksPerMicrosecond), DateTimeKind.Utc);
    }
}

public sealed class SqliteStoreTests : StoreContractTests
{
    protected override Task<StorageOptions> FreshDatabaseAsync(string work) =>
        Task.FromResult(new StorageOptions { SqlitePath = Path.Combine(work, "db", "archestra.db") });

    [Fact]
    public async Task Migration_5_keeps_the_rows_and_indexes_of_a_version_4_database_and_allows_a_null_cost()
    {
        var ct = TestContext.Current.CancellationToken;
        Directory.CreateDirectory(Path.GetDirectoryName(Options.SqlitePath)!);
        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection("Data Source=" + Options.SqlitePath + ";Pooling=False"))
        {
            await connection.OpenAsync(ct);
            await using var command = connection.CreateCommand();
            var sql = new System.Text.StringBuilder(Archestra.Storage.Sqlite.SqliteSchema.CreateSchemaTable);
            foreach (var migration in Archestra.Storage.Sqlite.SqliteSchema.All.Where(m => m.Version <= 4))
            {
                sql.Append(migration.Sql).Append($";\nINSERT INTO archestra_schema VALUES ({migration.Version}, '{migration.Name}', 0);\n");
            }

            // A row as the previous build wrote it: cost 12345 units of 1e-10 USD.
            sql.Append(
                """
                INSERT INTO llm_interactions (id, time, profile, provider, requested_model, used_model, input_tokens, output_tokens,
                    cached_input_tokens, reasoning_tokens, cost, duration_us, ttft_us, status, blocked_tools, error)
                VALUES (x'0190000000007000800000000000abcd', 1700000000000000, 'p', 'openai', 'gpt-4o', NULL, 10, 2, 1, 0, 12345, 99, NULL, 'ok', NULL, NULL);
                """
            );
            command.CommandText = sql.ToString();
            await command.ExecuteNonQueryAsync(ct);
        }

        var store = await OpenAsync();
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8], (await store.GetAppliedMigrationsAsync(ct)).Select(m => m.Version));
        var old = Assert.Single((await store.ListLlmInteractionsAsync(new LlmInteractionQuery { Limit = 10 }, ct)).Items);
        Assert.Equal(("gpt-4o", 10L, 2L, 0.0000012345m, 99L), (old.RequestedModel, old.InputTokens, old.OutputTokens, old.Cost, old.DurationMicroseconds));

        await Records.WriteAllAsync(store, [Records.Llm(1, profile: "after", cost: null)]);
        var written = (await store.ListLlmInteractionsAsync(new LlmInteractionQuery { Limit = 10 }, ct)).Items.Single(r => r.Profile == "after");
        Assert.Null(written.Cost);

        await using var check = new Microsoft.Data.Sqlite.SqliteConnection("Data Source=" + Options.SqlitePath);
        await check.OpenAsync(ct);
        await using var indexes = check.CreateCommand();
        indexes.CommandText =
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'llm_interactions' AND name NOT LIKE 'sqlite_%' ORDER BY name";
        var names = new List<string>();
        await using (var reader = await indexes.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                names.Add(reader.GetString(0));
            }
        }

        Assert.Equal(["llm_interactions_agent_session", "llm_interactions_model", "llm_interactions_not_ok", "llm_interactions_profile"], names);
        Assert.Null(old.AgentId);
    }

    [Fact]
    public async Task The_database_file_and_its_folder_are_created_in_wal_mode()
    {
        var store = await OpenAsync();
        Assert.True(File.Exists(Options.SqlitePath));
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection("Data Source=" + Options.SqlitePath);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", (string?)await command.ExecuteScalarAsync(TestContext.Current.CancellationToken));
        Assert.Equal(StorageDialect.Sqlite, store.Dialect);
    }
}

public sealed class PostgresStoreTests(PostgresFixture server) : StoreContractTests
{
    protected override async Task<StorageOptions> FreshDatabaseAsync(string work) => new() { DatabaseUrl = await server.CreateDatabaseAsync() };

    [Fact]
    public async Task The_url_selects_postgres()
    {
        var store = await OpenAsync();
        Assert.Equal(StorageDialect.Postgres, store.Dialect);
    }
}
