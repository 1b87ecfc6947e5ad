using ModelContextProtocol.Client;

namespace Archestra.Gateway.Tests.Infrastructure;

/// <summary>
/// The C# SDK 2.4 client prefers MCP 2026-07-28 when a server offers server/discover, as the gateway does since it
/// speaks both eras; tests of sessions, trust tracking and server-to-client requests pin the 2025 revision they test.
/// </summary>
internal static class LegacyClient
{
    public const string Revision = "2025-11-25";

    public static McpClientOptions Options(McpClientOptions? options = null)
    {
        options ??= new McpClientOptions();
        options.ProtocolVersion ??= Revision;
        return options;
    }
}
