using Archestra.Gateway.Mcp;
using Archestra.Gateway.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace Archestra.Gateway.Admin;

/// <summary>What the admin API works with: the server (its file configuration and ApplyAsync), the store and the running gateway.</summary>
/// <param name="Server">
/// <see cref="GatewayServer.FileConfig"/> is the file's configuration (file-managed resources, read-only through the API);
/// set <see cref="GatewayServer.Effective"/> to merge the database's resources into it, and call
/// <see cref="GatewayServer.ApplyAsync"/> (with null) after a change so the running gateway picks it up.
/// </param>
internal sealed record AdminContext(
    GatewayServer Server,
    ArchestraStore Store,
    AuditWriter Audit,
    McpGateway Gateway,
    ILoggerFactory LoggerFactory);

/// <summary>The admin REST API on the admin listener (<c>/api/...</c>).</summary>
internal static class AdminApi
{
    public static void Map(WebApplication app, AdminContext context)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(context);
    }
}
