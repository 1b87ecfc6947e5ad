using Microsoft.Extensions.Logging;
using ModelContextProtocol.Server;

namespace Archestra.Fixture.Mcp;

/// <summary>One session on stdin/stdout, the way a gateway runs a local MCP server.</summary>
internal static class StdioHost
{
    public static async Task<int> RunAsync(ILoggerFactory loggerFactory)
    {
        var session = new FixtureSession(new FixtureCatalog(), loggerFactory.CreateLogger<FixtureSession>());
        var transport = new StdioServerTransport(FixtureServer.Name, loggerFactory);
        await using (transport.ConfigureAwait(false))
        {
            var server = McpServer.Create(transport, FixtureServer.CreateOptions(session), loggerFactory);
            await using (server.ConfigureAwait(false))
            {
                session.Attach(server);
                await server.RunAsync().ConfigureAwait(false);
                session.Detach();
            }
        }

        return 0;
    }
}
