using System.Text.Json;

namespace Archestra.Storage;

/// <summary>An MCP server created through the API; <see cref="ConfigJson"/> is its object exactly as the file writes one (env:NAME unresolved).</summary>
public sealed record McpServerRow(Guid Id, string Name, string ConfigJson, DateTime CreatedAt, DateTime UpdatedAt);

/// <summary><c>mcp_servers</c>: the API's servers (the file's are never stored).</summary>
public sealed class McpServerRepository : Repository<McpServerRow>
{
    internal McpServerRepository(ArchestraStore store)
        : base(store) { }

    public override async Task<IReadOnlyList<McpServerRow>> ListAsync(CancellationToken cancellationToken = default) =>
        await Store
            .QueryAsync(
                "SELECT id, name, config, created_at, updated_at FROM mcp_servers WHERE managed_by = 'api' ORDER BY created_at, name",
                static r => new McpServerRow(r.Guid(0), r.String(1), r.String(2), r.Time(3), r.Time(4)),
                cancellationToken
            )
            .ConfigureAwait(false);

    private protected override Task Insert(StoreTransaction transaction, McpServerRow row, CancellationToken cancellationToken)
    {
        var (transport, runtime) = Transport(row.ConfigJson);
        return transaction.ExecuteAsync(
            "INSERT INTO mcp_servers (id, name, transport, runtime, config, managed_by, created_at, updated_at) VALUES (@id, @name, @transport, "
                + "@runtime, @config, 'api', @created, @updated)",
            cancellationToken,
            ("id", row.Id),
            ("name", row.Name),
            ("transport", transport),
            ("runtime", runtime),
            ("config", new StoreJson(row.ConfigJson)),
            ("created", row.CreatedAt),
            ("updated", row.UpdatedAt)
        );
    }

    private protected override Task Update(StoreTransaction transaction, McpServerRow row, CancellationToken cancellationToken)
    {
        var (transport, runtime) = Transport(row.ConfigJson);
        return transaction.ExecuteAsync(
            "UPDATE mcp_servers SET transport = @transport, runtime = @runtime, config = @config, updated_at = @updated WHERE id = @id",
            cancellationToken,
            ("id", row.Id),
            ("transport", transport),
            ("runtime", runtime),
            ("config", new StoreJson(row.ConfigJson)),
            ("updated", row.UpdatedAt)
        );
    }

    private protected override Task Delete(StoreTransaction transaction, McpServerRow row, CancellationToken cancellationToken) =>
        transaction.ExecuteAsync("DELETE FROM mcp_servers WHERE id = @id", cancellationToken, ("id", row.Id));

    /// <summary>The transport and runtime columns, read from the server's object (a command is a local stdio process).</summary>
    private static (string Transport, string Runtime) Transport(string configJson)
    {
        using var doc = JsonDocument.Parse(configJson);
        var config = doc.RootElement;
        if (config.TryGetProperty("command", out _))
        {
            return ("stdio", "local");
        }

        var sse =
            (config.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "sse")
            || (config.TryGetProperty("transport", out var transport) && transport.ValueKind == JsonValueKind.String && transport.GetString() == "sse");
        return (sse ? "sse" : "http", "remote");
    }
}
