using Archestra.Runtime.Protocol;

namespace Archestra.Gateway.Mcp;

/// <summary>The gateway's naming of tools across servers. Revisions, headers and codes live in Archestra.Runtime.Protocol.</summary>
internal static class McpProtocol
{
    /// <summary>Separator between server and tool in namespaced names: <c>{server}__{tool}</c>.</summary>
    public static ReadOnlySpan<byte> Separator => "__"u8;

    public static string Qualify(string server, string name) => string.Concat(server, "__", name);
}

/// <summary>JSON-RPC error codes (JSON-RPC 2.0 §5.1 and the gateway's own server-error range).</summary>
internal static class ErrorCodes
{
    public const int ParseError = McpErrorCodes.ParseError;
    public const int InvalidRequest = McpErrorCodes.InvalidRequest;
    public const int MethodNotFound = McpErrorCodes.MethodNotFound;
    public const int InvalidParams = McpErrorCodes.InvalidParams;
    public const int InternalError = McpErrorCodes.InternalError;

    // -32000..-32019 is implementation-defined (-32020..-32099 belongs to the MCP specification since 2026-07-28).
    // Documented in the README.
    /// <summary>The upstream server is down, restarting, disconnected or its circuit is open.</summary>
    public const int UpstreamUnavailable = -32010;

    /// <summary>The upstream did not answer within its timeout.</summary>
    public const int UpstreamTimeout = -32011;

    /// <summary>The upstream answered with something that is not valid MCP.</summary>
    public const int UpstreamProtocol = -32012;
}
