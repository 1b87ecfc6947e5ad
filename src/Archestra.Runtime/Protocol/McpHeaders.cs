namespace Archestra.Runtime.Protocol;

/// <summary>HTTP header names of the Streamable HTTP transport (compared case-insensitively, RFC 9110 §5.1).</summary>
public static class McpHeaders
{
    /// <summary>Legacy only: the session an <c>initialize</c> opened; modern requests ignore it (2026-07-28 transports, "Backward Compatibility").</summary>
    public const string SessionId = "Mcp-Session-Id";

    /// <summary>The request's revision; on a modern request it must equal <c>_meta["io.modelcontextprotocol/protocolVersion"]</c>.</summary>
    public const string ProtocolVersion = "MCP-Protocol-Version";

    /// <summary>Modern: mirrors the body's <c>method</c> (2026-07-28 transports, "Standard Request Headers").</summary>
    public const string Method = "Mcp-Method";

    /// <summary>Modern: mirrors <c>params.name</c> (tools/call, prompts/get) or <c>params.uri</c> (resources/read).</summary>
    public const string Name = "Mcp-Name";

    /// <summary>Legacy only: resumes an SSE stream; modern requests ignore it (streams are not resumable).</summary>
    public const string LastEventId = "Last-Event-ID";

    /// <summary>
    /// Modern: the prefix of the header a tool's schema names with <c>x-mcp-header</c> for one argument ("Custom Headers from
    /// Tool Parameters").
    /// </summary>
    public const string ParamPrefix = "Mcp-Param-";

    /// <summary>The prefix and suffix of a Base64-encoded <c>Mcp-Name</c> or <c>Mcp-Param-*</c> value ("Value Encoding").</summary>
    public const string Base64Prefix = "=?base64?";

    public const string Base64Suffix = "?=";
}
