using System.Buffers.Binary;
using System.Data.Common;
using System.Text;
using Archestra.Policy.Llm;
using Archestra.Storage.Postgres;
using Archestra.Storage.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Archestra.Storage;

/// <summary>
/// The gateway's database: PostgreSQL when <see cref="StorageOptions.DatabaseUrl"/> is set, else an embedded SQLite
/// file with the same tables. <see cref="OpenAsync"/> applies the embedded migrations. Audit rows are written only
/// through an <see cref="AuditWriter"/> (<see cref="CreateAuditWriter"/>); audit reads and retention are here, each
/// resource's rows in its repository (<see cref="Profiles"/>, <see cref="McpServers"/>, ...).
/// The SQL is shared between dialects; the subclasses convert values (SQLite keeps uuids as 16-byte big-endian
/// blobs, times as Unix microseconds, money as 1e-10 USD integers) and write audit batches their own fastest way.
/// </summary>
public abstract partial class ArchestraStore : IAsyncDisposable
{
    private protected ArchestraStore(StorageOptions options, ILoggerFactory loggerFactory)
    {
        Options = options;
        LoggerFactory = loggerFactory;
        Logger = loggerFactory.CreateLogger("Archestra.Storage");
        Secrets = string.IsNullOrWhiteSpace(options.SecretKey) ? null : new SecretBox(options.SecretKey, options.PreviousSecretKeys);
        McpServers = new McpServerRepository(this);
        Profiles = new ProfileRepository(this);
        GatewayTokens = new GatewayTokenRepository(this);
        Policies = new PolicyRepository(this);
        AdminKeys = new AdminKeyRepository(this);
        LlmProviders = new LlmProviderRepository(this);
        Prices = new PriceRepository(this);
        Limits = new LimitRepository(this);
        OptimizationRules = new OptimizationRuleRepository(this);
        AdminChanges = new AdminChangeRepository(this);
        SpentStates = new SpentStateRepository(this);
        SessionTaints = new SessionTaintRepository(this);
    }

    public StorageOptions Options { get; }

    public abstract StorageDialect Dialect { get; }

    /// <summary>The provider-key cipher; null when <c>ARCHESTRA_SECRET_KEY</c> is not set.</summary>
    public SecretBox? Secrets { get; }

    internal ILoggerFactory LoggerFactory { get; }

    // One repository per resource, each holding all of its SQL.
    public McpServerRepository McpServers { get; }

    public ProfileRepository Profiles { get; }

    public GatewayTokenRepository GatewayTokens { get; }

    public PolicyRepository Policies { get; }

    public AdminKeyRepository AdminKeys { get; }

    public LlmProviderRepository LlmProviders { get; }

    public PriceRepository Prices { get; }

    public LimitRepository Limits { get; }

    public OptimizationRuleRepository OptimizationRules { get; }

    public AdminChangeRepository AdminChanges { get; }

    public SpentStateRepository SpentStates { get; }

    public SessionTaintRepository SessionTaints { get; }

    private protected ILogger Logger { get; }

    /// <summary>Opens the database selected by <paramref name="options"/> (creating the SQLite file and folder) and migrates it.</summary>
    public static async Task<ArchestraStore> OpenAsync(
        StorageOptions options,
        ILoggerFactory? loggerFactory = null,
        CancellationToken cancellationToken = default
    )
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        loggerFactory ??= NullLoggerFactory.Instance;
        ArchestraStore store = options.UsesPostgres ? new PostgresStore(options, loggerFactory) : new SqliteStore(options, loggerFactory);
        try
        {
            await store.MigrateAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return store;
    }

    /// <summary>A writer over this store; call <see cref="AuditWriter.Start"/>, and dispose it before the store.</summary>
    public AuditWriter CreateAuditWriter(AuditMetrics? metrics = null) => new(this, metrics ?? new AuditMetrics());

    /// <summary>Applies the embedded migrations this database lacks. Safe to run from several processes at once.</summary>
    internal abstract Task MigrateAsync(CancellationToken cancellationToken);

    internal abstract IAuditSink CreateAuditSink();

    public abstract ValueTask DisposeAsync();

    private protected abstract ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken);

    // Dialect value conversions.
    private protected abstract object Db(Guid value);

    private protected abstract object Db(DateTime utc);

    private protected abstract object DbMoney(decimal value);

    private protected abstract object Db(bool value);

    private protected abstract void AddJson(DbCommand command, string name, string json);

    private protected abstract Guid ReadGuid(DbDataReader reader, int ordinal);

    private protected abstract DateTime ReadTime(DbDataReader reader, int ordinal);

    private protected abstract decimal ReadMoney(DbDataReader reader, int ordinal);

    /// <summary>SQL for the UTC day a time column falls in, in the column's own representation.</summary>
    private protected abstract string DayOf(string column);

    /// <summary>SQL that casts a sum of integers back to a 64-bit integer (PostgreSQL's sum(bigint) is numeric).</summary>
    private protected abstract string SumInt(string expression);

    public async Task<IReadOnlyList<AppliedMigration>> GetAppliedMigrationsAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT version, name, applied_at FROM archestra_schema ORDER BY version";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var result = new List<AppliedMigration>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            result.Add(new AppliedMigration(reader.GetInt32(0), reader.GetString(1), ReadTime(reader, 2)));
        }

        return result;
    }

    /// <summary>Checks that the database answers (the audit writer's probe).</summary>
    public async Task PingAsync(CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT 1";
        await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    // ---- audit reads ----------------------------------------------------------------------------------------

    private static readonly string[] AuditTables = ["mcp_tool_calls", "llm_interactions"];

    private const string ToolCallColumns =
        "id, time, profile, session_id, server, tool, decision, policy_id, outcome, duration_us, request_bytes, response_bytes, error, arguments, "
        + "agent_id, agent_session_id";
    private const string LlmColumns =
        "id, time, profile, provider, requested_model, used_model, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, "
        + "cost, duration_us, ttft_us, status, blocked_tools, error, agent_id, agent_session_id";

    public async Task<AuditPage<McpToolCallRecord>> ListToolCallsAsync(ToolCallQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        var where = new StringBuilder();
        Filter(command, where, "server", query.Server);
        Filter(command, where, "tool", query.Tool);
        Filter(command, where, "outcome", query.Outcome);
        command.CommandText = PageSql(command, where, "mcp_tool_calls", ToolCallColumns, query);
        var items = new List<McpToolCallRecord>(Math.Min(query.Limit + 1, 64));
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                items.Add(
                    new McpToolCallRecord
                    {
                        Id = ReadGuid(reader, 0),
                        Time = ReadTime(reader, 1),
                        Profile = reader.GetString(2),
                        SessionId = NullableString(reader, 3),
                        Server = reader.GetString(4),
                        Tool = reader.GetString(5),
                        Decision = reader.GetString(6),
                        PolicyId = NullableString(reader, 7),
                        Outcome = reader.GetString(8),
                        DurationMicroseconds = reader.GetInt64(9),
                        RequestBytes = reader.GetInt64(10),
                        ResponseBytes = reader.GetInt64(11),
                        Error = NullableString(reader, 12),
                        Arguments = NullableString(reader, 13),
                        AgentId = NullableString(reader, 14),
                        AgentSessionId = NullableString(reader, 15),
                    }
                );
            }
        }

        return Page(items, query.Limit);
    }

    public async Task<AuditPage<LlmInteractionRecord>> ListLlmInteractionsAsync(LlmInteractionQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        var where = new StringBuilder();
        Filter(command, where, "provider", query.Provider);
        Filter(command, where, "status", query.Status);
        if (query.Model is not null)
        {
            where.Append(" AND (requested_model = @model OR used_model = @model)");
            AddParameter(command, "model", query.Model);
        }

        command.CommandText = PageSql(command, where, "llm_interactions", LlmColumns, query);
        var items = new List<LlmInteractionRecord>(Math.Min(query.Limit + 1, 64));
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                items.Add(
                    new LlmInteractionRecord
                    {
                        Id = ReadGuid(reader, 0),
                        Time = ReadTime(reader, 1),
                        Profile = reader.GetString(2),
                        Provider = reader.GetString(3),
                        RequestedModel = reader.GetString(4),
                        UsedModel = NullableString(reader, 5),
                        InputTokens = reader.GetInt64(6),
                        OutputTokens = reader.GetInt64(7),
                        CachedInputTokens = reader.GetInt64(8),
                        ReasoningTokens = reader.GetInt64(9),
                        Cost = reader.IsDBNull(10) ? null : ReadMoney(reader, 10),
                        DurationMicroseconds = reader.GetInt64(11),
                        TimeToFirstTokenMicroseconds = reader.IsDBNull(12) ? null : reader.GetInt64(12),
                        Status = reader.GetString(13),
                        BlockedTools = NullableString(reader, 14),
                        Error = NullableString(reader, 15),
                        AgentId = NullableString(reader, 16),
                        AgentSessionId = NullableString(reader, 17),
                    }
                );
            }
        }

        return Page(items, query.Limit);
    }

    /// <summary>LLM usage summed per UTC day, profile and model (the used model, else the requested one), ordered by day, profile, model.</summary>
    public async Task<IReadOnlyList<UsageRow>> GetUsageAsync(DateTime from, DateTime to, string? profile = null, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        var day = DayOf("time");
        command.CommandText = $"""
            SELECT {day} AS day, profile, COALESCE(used_model, requested_model) AS model, {SumInt("1")},
                   {SumInt("input_tokens")}, {SumInt("output_tokens")}, {SumInt("cached_input_tokens")}, {SumInt("reasoning_tokens")}, COALESCE(sum(cost), 0)
            FROM llm_interactions
            WHERE time >= @from AND time < @to{(profile is null ? "" : " AND profile = @profile")}
            GROUP BY 1, 2, 3
            ORDER BY 1, 2, 3
            """;
        AddParameter(command, "from", Db(from));
        AddParameter(command, "to", Db(to));
        if (profile is not null)
        {
            AddParameter(command, "profile", profile);
        }

        var rows = new List<UsageRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(
                new UsageRow(
                    ReadTime(reader, 0),
                    reader.GetString(1),
                    reader.GetString(2),
                    reader.GetInt64(3),
                    reader.GetInt64(4),
                    reader.GetInt64(5),
                    reader.GetInt64(6),
                    reader.GetInt64(7),
                    ReadMoney(reader, 8)
                )
            );
        }

        return rows;
    }

    /// <summary>
    /// The tokens (input + output) and USD cost of <paramref name="profile"/> in the UTC day and month containing
    /// <paramref name="nowUtc"/> and in total, as budgets count them. Unpriced interactions add tokens, not cost.
    /// One pass over the profile's rows (index <c>llm_interactions_profile</c>).
    /// </summary>
    public async Task<UsageTotals> GetUsageTotalsAsync(string profile, DateTime nowUtc, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        const string tokens = "input_tokens + output_tokens";
        command.CommandText = $"""
            SELECT COALESCE({SumInt($"CASE WHEN time >= @day THEN {tokens} ELSE 0 END")}, 0), COALESCE(sum(CASE WHEN time >= @day THEN cost END), 0),
                   COALESCE({SumInt($"CASE WHEN time >= @month THEN {tokens} ELSE 0 END")}, 0), COALESCE(sum(CASE WHEN time >= @month THEN cost END), 0),
                   COALESCE({SumInt(tokens)}, 0), COALESCE(sum(cost), 0)
            FROM llm_interactions
            WHERE profile = @profile
            """;
        AddParameter(command, "day", Db(LimitPeriods.Start(LimitPeriod.Day, nowUtc)));
        AddParameter(command, "month", Db(LimitPeriods.Start(LimitPeriod.Month, nowUtc)));
        AddParameter(command, "profile", profile);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return new UsageTotals(
            new PeriodUsage(reader.GetInt64(0), ReadMoney(reader, 1)),
            new PeriodUsage(reader.GetInt64(2), ReadMoney(reader, 3)),
            new PeriodUsage(reader.GetInt64(4), ReadMoney(reader, 5))
        );
    }

    // ---- retention ------------------------------------------------------------------------------------------

    /// <summary>
    /// Deletes audit rows older than <paramref name="cutoff"/> in statements of at most
    /// <see cref="StorageOptions.RetentionBatchSize"/> rows, so no statement holds locks for long. Returns the rows deleted.
    /// </summary>
    public async Task<long> DeleteAuditBeforeAsync(DateTime cutoff, CancellationToken cancellationToken = default)
    {
        long total = 0;
        foreach (var table in AuditTables)
        {
            while (true)
            {
                int deleted;
                await using (var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false))
                await using (var command = connection.CreateCommand())
                {
                    command.CommandText =
                        $"DELETE FROM {table} WHERE (time, id) IN (SELECT time, id FROM {table} WHERE time < @cutoff ORDER BY time LIMIT @limit)";
                    AddParameter(command, "cutoff", Db(cutoff));
                    AddParameter(command, "limit", Options.RetentionBatchSize);
                    deleted = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                total += deleted;
                if (deleted < Options.RetentionBatchSize)
                {
                    break;
                }
            }
        }

        return total;
    }

    /// <summary>Rows in an audit table (tests and diagnostics).</summary>
    public async Task<(long Rows, long DistinctIds)> CountAuditAsync(AuditKind kind, CancellationToken cancellationToken = default)
    {
        var table = kind == AuditKind.McpToolCall ? "mcp_tool_calls" : "llm_interactions";
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {SumInt("1")}, count(DISTINCT id) FROM {table}";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return (reader.IsDBNull(0) ? 0 : reader.GetInt64(0), reader.GetInt64(1));
    }

    // ---- helpers --------------------------------------------------------------------------------------------

    internal static string ManagedByText(ManagedBy managedBy) => managedBy == ManagedBy.File ? "file" : "api";

    internal static ManagedBy ParseManagedBy(string text) => text == "file" ? ManagedBy.File : ManagedBy.Api;

    private protected static void AddParameter(DbCommand command, string name, object? value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
    }

    private static string? NullableString(DbDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    private async Task ExecuteAsync(string sql, Action<DbCommand> bind, CancellationToken cancellationToken)
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        bind(command);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private void Filter(DbCommand command, StringBuilder where, string column, string? value)
    {
        if (value is not null)
        {
            where.Append(" AND ").Append(column).Append(" = @").Append(column);
            AddParameter(command, column, value);
        }
    }

    private string PageSql(DbCommand command, StringBuilder where, string table, string columns, AuditQuery query)
    {
        if (query.Limit is < 1 or > AuditQuery.MaxLimit)
        {
            throw new ArgumentOutOfRangeException(nameof(query), $"limit must be between 1 and {AuditQuery.MaxLimit}.");
        }

        if (query.Profile is not null)
        {
            where.Append(" AND profile = @profile");
            AddParameter(command, "profile", query.Profile);
        }

        Filter(command, where, "agent_id", query.AgentId);
        Filter(command, where, "agent_session_id", query.AgentSessionId);
        if (query.From is { } from)
        {
            where.Append(" AND time >= @from");
            AddParameter(command, "from", Db(from));
        }

        if (query.To is { } to)
        {
            where.Append(" AND time < @to");
            AddParameter(command, "to", Db(to));
        }

        var direction = query.Descending ? "DESC" : "ASC";
        if (query.Cursor is not null)
        {
            var (time, id) = DecodeCursor(query.Cursor);
            // Row-value comparison walks the (time, id) index without an OR (PostgreSQL; SQLite 3.15+).
            where.Append(query.Descending ? " AND (time, id) < (@cursor_time, @cursor_id)" : " AND (time, id) > (@cursor_time, @cursor_id)");
            AddParameter(command, "cursor_time", Db(time));
            AddParameter(command, "cursor_id", Db(id));
        }

        AddParameter(command, "limit", query.Limit + 1);
        var filter = where.Length == 0 ? "" : " WHERE " + where.ToString(5, where.Length - 5);
        return $"SELECT {columns} FROM {table}{filter} ORDER BY time {direction}, id {direction} LIMIT @limit";
    }

    private static AuditPage<T> Page<T>(List<T> items, int limit)
        where T : AuditRecord
    {
        if (items.Count <= limit)
        {
            return new AuditPage<T>(items, null);
        }

        items.RemoveAt(items.Count - 1);
        var last = items[^1];
        return new AuditPage<T>(items, EncodeCursor(last.Time, last.Id));
    }

    /// <summary>Opaque to clients: base64url of the last row's (time in Unix µs, id) — the page's sort key.</summary>
    internal static string EncodeCursor(DateTime time, Guid id)
    {
        Span<byte> bytes = stackalloc byte[24];
        BinaryPrimitives.WriteInt64BigEndian(bytes, AuditTime.ToUnixMicroseconds(time));
        id.TryWriteBytes(bytes[8..], bigEndian: true, out _);
        return Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    public static (DateTime Time, Guid Id) DecodeCursor(string cursor)
    {
        Span<byte> bytes = stackalloc byte[24];
        // 24 bytes are exactly 32 base64 characters: no padding to restore.
        if (cursor.Length != 32 || !Convert.TryFromBase64String(cursor.Replace('-', '+').Replace('_', '/'), bytes, out var written) || written != 24)
        {
            throw new ArgumentException("cursor is not valid", nameof(cursor));
        }

        return (AuditTime.FromUnixMicroseconds(BinaryPrimitives.ReadInt64BigEndian(bytes)), new Guid(bytes[8..], bigEndian: true));
    }
}

/// <summary>Writes audit batches idempotently: a replayed batch never adds a second row for an id.</summary>
internal interface IAuditSink : IAsyncDisposable
{
    /// <param name="replay">True for batches read back from the spill, which may already be in the database.</param>
    Task WriteAsync(List<AuditRecord> batch, bool replay, CancellationToken cancellationToken);
}
