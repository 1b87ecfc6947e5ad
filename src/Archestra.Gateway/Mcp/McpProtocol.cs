namespace Archestra.Gateway.Mcp;

/// <summary>Protocol constants of the MCP revisions the gateway speaks.</summary>
internal static class McpProtocol
{
    public const string Latest = "2025-11-25";

    /// <summary>Revisions the gateway negotiates (newest first). 2024-11-05 is accepted for old clients.</summary>
    public static readonly string[] Supported = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

    /// <summary>
    /// The version assumed when a request carries no MCP-Protocol-Version header: the spec (2025-06-18,
    /// "Protocol Version Header") says servers SHOULD assume 2025-03-26 for backwards compatibility.
    /// </summary>
    public const string DefaultWhenHeaderMissing = "2025-03-26";

    public const string SessionHeader = "Mcp-Session-Id";
    public const string ProtocolVersionHeader = "MCP-Protocol-Version";

    /// <summary>Separator between server and tool in namespaced names: <c>{server}__{tool}</c>.</summary>
    public static ReadOnlySpan<byte> Separator => "__"u8;

    public static string Qualify(string server, string name) => string.Concat(server, "__", name);

    public static bool IsSupported(string? version)
    {
        if (version is null)
        {
            return false;
        }

        foreach (var v in Supported)
        {
            if (v == version)
            {
                return true;
            }
        }

        return false;
    }

    public static string Negotiate(string? requested) => IsSupported(requested) ? requested! : Latest;
}


/// <summary>JSON-RPC error codes (JSON-RPC 2.0 §5.1 and the gateway's own server-error range).</summary>
internal static class ErrorCodes
{
    public const int ParseError = -32700;
    public const int InvalidRequest = -32600;
    public const int MethodNotFound = -32601;
    public const int InvalidParams = -32602;
    public const int InternalError = -32603;

    // -32000..-32099 is reserved for implementation-defined server errors. Documented in the README.
    /// <summary>The upstream server is down, restarting, disconnected or its circuit is open.</summary>
    public const int UpstreamUnavailable = -32010;
    /// <summary>The upstream did not answer within its timeout.</summary>
    public const int UpstreamTimeout = -32011;
    /// <summary>The upstream answered with something that is not valid MCP.</summary>
    public const int UpstreamProtocol = -32012;
}
