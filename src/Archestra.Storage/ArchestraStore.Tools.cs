namespace Archestra.Storage;

/// <summary>A tool as a server listed it, and when the gateway first and last saw it.</summary>
public sealed record DiscoveredTool(string Server, string Name, string? Description, string InputSchemaJson, DateTime FirstSeen, DateTime LastSeen);

public abstract partial class ArchestraStore
{
    /// <summary>
    /// Records a server's complete tool list: new tools are added, known ones get the new description, schema and
    /// last-seen time. Tools the server no longer lists keep their row (and their old last-seen time).
    /// </summary>
    public async Task RecordDiscoveredToolsAsync(
        string server,
        IReadOnlyList<(string Name, string? Description, string InputSchemaJson)> tools,
        DateTime seen,
        CancellationToken cancellationToken = default
    )
    {
        await using var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        foreach (var (name, description, schema) in tools)
        {
            await using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = """
                INSERT INTO discovered_tools (server, name, description, input_schema, first_seen, last_seen)
                VALUES (@server, @name, @description, @schema, @seen, @seen)
                ON CONFLICT (server, name) DO UPDATE
                SET description = excluded.description, input_schema = excluded.input_schema, last_seen = excluded.last_seen
                """;
            Bind(command, [("server", server), ("name", name), ("description", description), ("schema", new StoreJson(schema)), ("seen", seen)]);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every tool ever discovered, optionally of one server, by server and name.</summary>
    public async Task<IReadOnlyList<DiscoveredTool>> ListDiscoveredToolsAsync(string? server = null, CancellationToken cancellationToken = default)
    {
        const string columns = "SELECT server, name, description, input_schema, first_seen, last_seen FROM discovered_tools";
        static DiscoveredTool Map(StoreRow row) => new(row.String(0), row.String(1), row.NullableString(2), row.Value(3).ToString()!, row.Time(4), row.Time(5));

        return server is null
            ? await QueryAsync(columns + " ORDER BY server, name", Map, cancellationToken).ConfigureAwait(false)
            : await QueryAsync(columns + " WHERE server = @server ORDER BY name", Map, cancellationToken, ("server", server)).ConfigureAwait(false);
    }
}
