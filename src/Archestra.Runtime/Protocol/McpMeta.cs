namespace Archestra.Runtime.Protocol;

/// <summary>Reserved <c>_meta</c> keys (2026-07-28 basic, "General fields: _meta").</summary>
public static class McpMeta
{
    public static ReadOnlySpan<byte> Property => "_meta"u8;
    public static ReadOnlySpan<byte> ProgressToken => "progressToken"u8;
    public static ReadOnlySpan<byte> ProtocolVersion => "io.modelcontextprotocol/protocolVersion"u8;
    public static ReadOnlySpan<byte> ClientInfo => "io.modelcontextprotocol/clientInfo"u8;
    public static ReadOnlySpan<byte> ClientCapabilities => "io.modelcontextprotocol/clientCapabilities"u8;
    public static ReadOnlySpan<byte> LogLevel => "io.modelcontextprotocol/logLevel"u8;
    public static ReadOnlySpan<byte> SubscriptionId => "io.modelcontextprotocol/subscriptionId"u8;
    public static ReadOnlySpan<byte> ServerInfo => "io.modelcontextprotocol/serverInfo"u8;
}

/// <summary>
/// JSON-RPC error codes: JSON-RPC 2.0 §5.1 and the ones MCP defines (2026-07-28 basic, "Error Codes":
/// -32020..-32099 are reserved for the specification; -32000..-32019 stay implementation-defined).
/// </summary>
public static class McpErrorCodes
{
    public const int ParseError = -32700;
    public const int InvalidRequest = -32600;
    public const int MethodNotFound = -32601;
    public const int InvalidParams = -32602;
    public const int InternalError = -32603;

    /// <summary>Resource not found up to 2025-11-25; 2026-07-28 uses <see cref="InvalidParams"/> (SEP-2164) and forbids emitting this.</summary>
    public const int LegacyResourceNotFound = -32002;

    /// <summary>The HTTP headers do not match the body, or a required header is missing or malformed (HTTP 400).</summary>
    public const int HeaderMismatch = -32020;

    /// <summary>The request needs a client capability its <c>_meta</c> did not declare (HTTP 400).</summary>
    public const int MissingRequiredClientCapability = -32021;

    /// <summary>The requested revision is not served; <c>data.supported</c> lists those that are (HTTP 400).</summary>
    public const int UnsupportedProtocolVersion = -32022;
}
