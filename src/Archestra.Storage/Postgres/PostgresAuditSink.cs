using Npgsql;
using NpgsqlTypes;

namespace Archestra.Storage.Postgres;

/// <summary>
/// Writes audit batches with binary COPY, one transaction per batch. Fresh batches COPY straight into the tables;
/// a batch that may already be there (a spill replay, e.g. after a lost commit acknowledgement) or that hits a
/// duplicate goes through session-local staging tables and <c>INSERT ... SELECT ... ON CONFLICT (time, id) DO
/// NOTHING</c>, so a replayed batch never adds a second row. The staging path costs ~50% more per row (speculative
/// insertion), which is why it is not the default. Holds one connection; after any failure it is dropped and reopened.
/// </summary>
internal sealed class PostgresAuditSink(NpgsqlDataSource dataSource, int maxArgumentBytes) : IAuditSink
{
    private const string McpColumns =
        "id, time, profile, session_id, server, tool, decision, policy_id, outcome, duration_us, request_bytes, response_bytes, error, arguments, "
        + "agent_id, agent_session_id";
    private const string LlmColumns =
        "id, time, profile, provider, requested_model, used_model, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, "
        + "cost, duration_us, ttft_us, status, blocked_tools, error, agent_id, agent_session_id";

    // Temp tables without indexes; ON COMMIT DELETE ROWS empties them with each batch's commit.
    private const string CreateStaging = """
        CREATE TEMP TABLE IF NOT EXISTS audit_stage_mcp (LIKE mcp_tool_calls) ON COMMIT DELETE ROWS;
        CREATE TEMP TABLE IF NOT EXISTS audit_stage_llm (LIKE llm_interactions) ON COMMIT DELETE ROWS;
        """;

    private NpgsqlConnection? _connection;

    public async Task WriteAsync(List<AuditRecord> batch, bool replay, CancellationToken cancellationToken)
    {
        try
        {
            var connection = await ConnectAsync(cancellationToken).ConfigureAwait(false);
            if (!replay)
            {
                // Fast path: fresh records (new UUIDv7 ids) COPY straight into the tables. Any duplicate aborts the
                // whole COPY (unique_violation), and the batch is redone through the staging tables below.
                try
                {
                    await WriteBatchAsync(connection, batch, staged: false, cancellationToken).ConfigureAwait(false);
                    return;
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation) { }
            }

            await WriteBatchAsync(connection, batch, staged: true, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await DropConnectionAsync().ConfigureAwait(false);
            // After a server restart every idle pooled connection is dead; drop them so the next attempt dials anew.
            dataSource.Clear();
            throw;
        }
    }

    private async Task WriteBatchAsync(NpgsqlConnection connection, List<AuditRecord> batch, bool staged, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        int mcp = 0,
            llm = 0;
        foreach (var record in batch)
        {
            if (record.Kind == AuditKind.McpToolCall)
            {
                mcp++;
            }
            else
            {
                llm++;
            }
        }

        if (mcp > 0)
        {
            await CopyToolCallsAsync(connection, staged ? "audit_stage_mcp" : "mcp_tool_calls", batch, cancellationToken).ConfigureAwait(false);
            if (staged)
            {
                await ExecuteAsync(
                        connection,
                        $"INSERT INTO mcp_tool_calls ({McpColumns}) SELECT {McpColumns} FROM audit_stage_mcp ON CONFLICT (time, id) DO NOTHING",
                        cancellationToken
                    )
                    .ConfigureAwait(false);
            }
        }

        if (llm > 0)
        {
            await CopyLlmInteractionsAsync(connection, staged ? "audit_stage_llm" : "llm_interactions", batch, cancellationToken).ConfigureAwait(false);
            if (staged)
            {
                await ExecuteAsync(
                        connection,
                        $"INSERT INTO llm_interactions ({LlmColumns}) SELECT {LlmColumns} FROM audit_stage_llm ON CONFLICT (time, id) DO NOTHING",
                        cancellationToken
                    )
                    .ConfigureAwait(false);
            }
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await DropConnectionAsync().ConfigureAwait(false);

    private async Task CopyToolCallsAsync(NpgsqlConnection connection, string table, List<AuditRecord> batch, CancellationToken cancellationToken)
    {
        // The synchronous Write calls only fill Npgsql's buffer (flushing when full); per-field async calls cost
        // a state machine each, which at 14 fields x 200k rows/s is most of the writer's CPU.
        await using var importer = await connection
            .BeginBinaryImportAsync($"COPY {table} ({McpColumns}) FROM STDIN (FORMAT BINARY)", cancellationToken)
            .ConfigureAwait(false);
        foreach (var record in batch)
        {
            if (record is not McpToolCallRecord r)
            {
                continue;
            }

            importer.StartRow();
            importer.Write(r.Id, NpgsqlDbType.Uuid);
            importer.Write(r.Time, NpgsqlDbType.TimestampTz);
            importer.Write(r.Profile, NpgsqlDbType.Text);
            WriteText(importer, r.SessionId);
            importer.Write(r.Server, NpgsqlDbType.Text);
            importer.Write(r.Tool, NpgsqlDbType.Text);
            importer.Write(r.Decision, NpgsqlDbType.Text);
            WriteText(importer, r.PolicyId);
            importer.Write(r.Outcome, NpgsqlDbType.Text);
            importer.Write(r.DurationMicroseconds, NpgsqlDbType.Bigint);
            importer.Write(r.RequestBytes, NpgsqlDbType.Bigint);
            importer.Write(r.ResponseBytes, NpgsqlDbType.Bigint);
            WriteText(importer, r.Error);
            WriteText(importer, AuditText.Truncate(r.Arguments, maxArgumentBytes));
            WriteText(importer, r.AgentId);
            WriteText(importer, r.AgentSessionId);
        }

        await importer.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task CopyLlmInteractionsAsync(NpgsqlConnection connection, string table, List<AuditRecord> batch, CancellationToken cancellationToken)
    {
        await using var importer = await connection
            .BeginBinaryImportAsync($"COPY {table} ({LlmColumns}) FROM STDIN (FORMAT BINARY)", cancellationToken)
            .ConfigureAwait(false);
        foreach (var record in batch)
        {
            if (record is not LlmInteractionRecord r)
            {
                continue;
            }

            importer.StartRow();
            importer.Write(r.Id, NpgsqlDbType.Uuid);
            importer.Write(r.Time, NpgsqlDbType.TimestampTz);
            importer.Write(r.Profile, NpgsqlDbType.Text);
            importer.Write(r.Provider, NpgsqlDbType.Text);
            importer.Write(r.RequestedModel, NpgsqlDbType.Text);
            WriteText(importer, r.UsedModel);
            importer.Write(r.InputTokens, NpgsqlDbType.Bigint);
            importer.Write(r.OutputTokens, NpgsqlDbType.Bigint);
            importer.Write(r.CachedInputTokens, NpgsqlDbType.Bigint);
            importer.Write(r.ReasoningTokens, NpgsqlDbType.Bigint);
            if (r.Cost is { } cost)
            {
                importer.Write(cost, NpgsqlDbType.Numeric);
            }
            else
            {
                importer.WriteNull();
            }

            importer.Write(r.DurationMicroseconds, NpgsqlDbType.Bigint);
            if (r.TimeToFirstTokenMicroseconds is { } ttft)
            {
                importer.Write(ttft, NpgsqlDbType.Bigint);
            }
            else
            {
                importer.WriteNull();
            }

            importer.Write(r.Status, NpgsqlDbType.Text);
            WriteText(importer, r.BlockedTools);
            WriteText(importer, r.Error);
            WriteText(importer, r.AgentId);
            WriteText(importer, r.AgentSessionId);
        }

        await importer.CompleteAsync(cancellationToken).ConfigureAwait(false);
    }

    private static void WriteText(NpgsqlBinaryImporter importer, string? value)
    {
        if (value is null)
        {
            importer.WriteNull();
        }
        else
        {
            importer.Write(value, NpgsqlDbType.Text);
        }
    }

    private async ValueTask<NpgsqlConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        if (_connection is { State: System.Data.ConnectionState.Open } open)
        {
            return open;
        }

        await DropConnectionAsync().ConfigureAwait(false);
        var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await ExecuteAsync(connection, CreateStaging, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        _connection = connection;
        return connection;
    }

    private async ValueTask DropConnectionAsync()
    {
        if (_connection is { } connection)
        {
            _connection = null;
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
