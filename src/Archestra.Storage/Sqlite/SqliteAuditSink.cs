using Microsoft.Data.Sqlite;

namespace Archestra.Storage.Sqlite;

/// <summary>
/// One transaction per batch with prepared INSERTs (<c>ON CONFLICT (time, id) DO NOTHING</c>, so replays are idempotent),
/// on a connection held for the writer's lifetime. The connection waits on another connection's write lock only about
/// as long as the writer waits for the batch (<paramref name="lockWait"/>): past that the batch is in the spill, and a
/// write left running would only hold a thread.
/// </summary>
internal sealed class SqliteAuditSink(SqliteStore store, int maxArgumentBytes, TimeSpan lockWait) : IAuditSink
{
    private SqliteConnection? _connection;
    private SqliteCommand? _mcp;
    private SqliteCommand? _llm;

    public async Task WriteAsync(List<AuditRecord> batch, bool replay, CancellationToken cancellationToken)
    {
        try
        {
            await ConnectAsync(cancellationToken).ConfigureAwait(false);
            using var transaction = _connection!.BeginTransaction();
            _mcp!.Transaction = transaction;
            _llm!.Transaction = transaction;
            foreach (var record in batch)
            {
                if (record is McpToolCallRecord m)
                {
                    var p = _mcp.Parameters;
                    p[0].Value = SqliteStore.Uuid(m.Id);
                    p[1].Value = AuditTime.ToUnixMicroseconds(m.Time);
                    p[2].Value = m.Profile;
                    p[3].Value = (object?)m.SessionId ?? DBNull.Value;
                    p[4].Value = m.Server;
                    p[5].Value = m.Tool;
                    p[6].Value = m.Decision;
                    p[7].Value = (object?)m.PolicyId ?? DBNull.Value;
                    p[8].Value = m.Outcome;
                    p[9].Value = m.DurationMicroseconds;
                    p[10].Value = m.RequestBytes;
                    p[11].Value = m.ResponseBytes;
                    p[12].Value = (object?)m.Error ?? DBNull.Value;
                    p[13].Value = (object?)AuditText.Truncate(m.Arguments, maxArgumentBytes) ?? DBNull.Value;
                    p[14].Value = (object?)m.AgentId ?? DBNull.Value;
                    p[15].Value = (object?)m.AgentSessionId ?? DBNull.Value;
                    _mcp.ExecuteNonQuery();
                }
                else if (record is LlmInteractionRecord l)
                {
                    var p = _llm.Parameters;
                    p[0].Value = SqliteStore.Uuid(l.Id);
                    p[1].Value = AuditTime.ToUnixMicroseconds(l.Time);
                    p[2].Value = l.Profile;
                    p[3].Value = l.Provider;
                    p[4].Value = l.RequestedModel;
                    p[5].Value = (object?)l.UsedModel ?? DBNull.Value;
                    p[6].Value = l.InputTokens;
                    p[7].Value = l.OutputTokens;
                    p[8].Value = l.CachedInputTokens;
                    p[9].Value = l.ReasoningTokens;
                    p[10].Value = l.Cost is { } cost ? SqliteStore.Money(cost) : DBNull.Value;
                    p[11].Value = l.DurationMicroseconds;
                    p[12].Value = l.TimeToFirstTokenMicroseconds is { } t ? t : DBNull.Value;
                    p[13].Value = l.Status;
                    p[14].Value = (object?)l.BlockedTools ?? DBNull.Value;
                    p[15].Value = (object?)l.Error ?? DBNull.Value;
                    p[16].Value = (object?)l.AgentId ?? DBNull.Value;
                    p[17].Value = (object?)l.AgentSessionId ?? DBNull.Value;
                    _llm.ExecuteNonQuery();
                }
            }

            transaction.Commit();
        }
        catch
        {
            await DropAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync() => await DropAsync().ConfigureAwait(false);

    private async Task ConnectAsync(CancellationToken cancellationToken)
    {
        if (_connection is not null)
        {
            return;
        }

        _connection = await store.OpenSqliteAsync(cancellationToken).ConfigureAwait(false);
        // SQLite's own busy handler retries within milliseconds; Microsoft.Data.Sqlite's retry (DefaultTimeout, whole
        // seconds) sleeps 150 ms between tries, so it only backs this up.
        _connection.DefaultTimeout = (int)Math.Ceiling(lockWait.TotalSeconds);
        using (var pragma = _connection.CreateCommand())
        {
            pragma.CommandText = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"PRAGMA busy_timeout = {(long)lockWait.TotalMilliseconds}");
            pragma.ExecuteNonQuery();
        }

        _mcp = Prepare(
            _connection,
            "mcp_tool_calls",
            [
                "id",
                "time",
                "profile",
                "session_id",
                "server",
                "tool",
                "decision",
                "policy_id",
                "outcome",
                "duration_us",
                "request_bytes",
                "response_bytes",
                "error",
                "arguments",
                "agent_id",
                "agent_session_id",
            ]
        );
        _llm = Prepare(
            _connection,
            "llm_interactions",
            [
                "id",
                "time",
                "profile",
                "provider",
                "requested_model",
                "used_model",
                "input_tokens",
                "output_tokens",
                "cached_input_tokens",
                "reasoning_tokens",
                "cost",
                "duration_us",
                "ttft_us",
                "status",
                "blocked_tools",
                "error",
                "agent_id",
                "agent_session_id",
            ]
        );
    }

    private static SqliteCommand Prepare(SqliteConnection connection, string table, string[] columns)
    {
        var command = connection.CreateCommand();
        command.CommandText =
            $"INSERT INTO {table} ({string.Join(", ", columns)}) VALUES ({string.Join(", ", columns.Select(c => "@" + c))}) ON CONFLICT (time, id) DO NOTHING";
        foreach (var column in columns)
        {
            command.Parameters.Add(new SqliteParameter("@" + column, DBNull.Value));
        }

        return command;
    }

    private async ValueTask DropAsync()
    {
        _mcp?.Dispose();
        _llm?.Dispose();
        _mcp = _llm = null;
        if (_connection is { } connection)
        {
            _connection = null;
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }
}
