using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Upstreams;

namespace Archestra.Gateway.Mcp;

/// <summary>The one place where upstream failures become JSON-RPC errors.</summary>
internal static class McpErrors
{
    public static (int Code, string Stage) Map(UpstreamError error) =>
        error switch
        {
            UpstreamError.Timeout => (ErrorCodes.UpstreamTimeout, "timeout"),
            UpstreamError.Unavailable => (ErrorCodes.UpstreamUnavailable, "unavailable"),
            UpstreamError.ConnectFailed => (ErrorCodes.UpstreamUnavailable, "connect"),
            UpstreamError.Disconnected => (ErrorCodes.UpstreamUnavailable, "disconnected"),
            UpstreamError.Protocol => (ErrorCodes.UpstreamProtocol, "protocol"),
            UpstreamError.Cancelled => (ErrorCodes.InternalError, "cancelled"),
            _ => (ErrorCodes.InternalError, "internal"),
        };
}

/// <summary>Reads the few result fields the gateway reports on, without materializing the result.</summary>
internal static class ResultInspector
{
    /// <summary>True when a tools/call result has <c>"isError": true</c> at its top level.</summary>
    public static bool IsToolError(UpstreamMessage response) => JsonObjectScan.IsTrue(response.Envelope.Result.Of(response.Span), "isError"u8);
}
