namespace Archestra.Runtime.Upstreams;

/// <summary>
/// Which stage of talking to an upstream failed. Expected failures are values, not exceptions; the
/// gateway maps each one to a JSON-RPC error in one place (Mcp/McpErrors.cs).
/// </summary>
public enum UpstreamError : byte
{
    None,

    /// <summary>The upstream is not connected (never started, restarting, or its circuit is open).</summary>
    Unavailable,

    /// <summary>Connecting or the MCP handshake failed.</summary>
    ConnectFailed,

    /// <summary>No answer within the server's timeout.</summary>
    Timeout,

    /// <summary>The stdio process exited or the HTTP stream ended before the answer.</summary>
    Disconnected,

    /// <summary>The upstream sent something that is not valid MCP / JSON-RPC, or an HTTP error status.</summary>
    Protocol,

    /// <summary>The caller cancelled (client disconnected or sent notifications/cancelled).</summary>
    Cancelled,
}

/// <summary>The outcome of one request sent to an upstream.</summary>
public readonly struct UpstreamCallResult
{
    private UpstreamCallResult(UpstreamMessage? response, UpstreamError error, string? detail)
    {
        Response = response;
        Error = error;
        Detail = detail;
    }

    /// <summary>The upstream's response (a result or a JSON-RPC error) when <see cref="Error"/> is None.</summary>
    public UpstreamMessage? Response { get; }

    public UpstreamError Error { get; }

    /// <summary>A sentence for people: what went wrong, naming the cause.</summary>
    public string? Detail { get; }

    public bool IsSuccess => Error == UpstreamError.None;

    public static UpstreamCallResult Success(UpstreamMessage response) => new(response, UpstreamError.None, null);

    public static UpstreamCallResult Failure(UpstreamError error, string detail) => new(null, error, detail);
}
