using Archestra.Runtime.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Archestra.Runtime.Http;

internal static partial class HttpLog
{
    [LoggerMessage(1200, LogLevel.Information, "MCP server '{Server}' at {Url} is ready (protocol {ProtocolVersion})")]
    public static partial void Ready(ILogger logger, string server, Uri url, LogText protocolVersion);

    [LoggerMessage(1201, LogLevel.Warning, "MCP server '{Server}' is down: {Detail}")]
    public static partial void Down(ILogger logger, string server, LogText detail);

    [LoggerMessage(1202, LogLevel.Information, "MCP server '{Server}' reconnects in {DelayMs} ms")]
    public static partial void ReconnectScheduled(ILogger logger, string server, double delayMs);

    [LoggerMessage(1203, LogLevel.Information, "MCP server '{Server}' session {SessionId} expired (HTTP 404); starting a new session")]
    public static partial void SessionExpired(ILogger logger, string server, LogText sessionId);

    [LoggerMessage(1204, LogLevel.Debug, "MCP server '{Server}' does not offer a GET stream (HTTP 405)")]
    public static partial void NoGetStream(ILogger logger, string server);

    [LoggerMessage(1205, LogLevel.Debug, "MCP server '{Server}' GET stream ended: {Detail}")]
    public static partial void GetStreamEnded(ILogger logger, string server, LogText detail);

    [LoggerMessage(1206, LogLevel.Information, "MCP server '{Server}' sent an event that is not a JSON-RPC message; skipped")]
    public static partial void NotJsonRpc(ILogger logger, string server);

    [LoggerMessage(1207, LogLevel.Debug, "Sending to MCP server '{Server}' failed: {Detail}")]
    public static partial void SendFailed(ILogger logger, string server, LogText detail);

    [LoggerMessage(1208, LogLevel.Debug, "MCP server '{Server}' closed the response stream of request {Id} early; resuming from event {LastEventId}")]
    public static partial void Resuming(ILogger logger, string server, long id, LogText lastEventId);

    [LoggerMessage(1209, LogLevel.Debug, "Ending the session of MCP server '{Server}' failed: {Detail}")]
    public static partial void DeleteFailed(ILogger logger, string server, LogText detail);
}
