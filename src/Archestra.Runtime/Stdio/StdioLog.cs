using Archestra.Runtime.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Archestra.Runtime.Stdio;

internal static partial class StdioLog
{
    [LoggerMessage(1100, LogLevel.Information, "MCP server '{Server}' started as process {ProcessId}")]
    public static partial void Started(ILogger logger, string server, int processId);

    [LoggerMessage(1101, LogLevel.Information, "MCP server '{Server}' is ready (protocol {ProtocolVersion})")]
    public static partial void Ready(ILogger logger, string server, LogText protocolVersion);

    [LoggerMessage(1102, LogLevel.Warning, "MCP server '{Server}' could not be started: {Detail}")]
    public static partial void StartFailed(ILogger logger, string server, LogText detail);

    [LoggerMessage(1103, LogLevel.Warning, "MCP server '{Server}' failed its handshake: {Detail}")]
    public static partial void HandshakeFailed(ILogger logger, string server, LogText detail);

    [LoggerMessage(1104, LogLevel.Warning, "MCP server '{Server}' is down: {Detail}")]
    public static partial void Down(ILogger logger, string server, LogText detail);

    [LoggerMessage(1105, LogLevel.Information, "MCP server '{Server}' restarts in {DelayMs} ms (restart #{Restart})")]
    public static partial void RestartScheduled(ILogger logger, string server, double delayMs, long restart);

    [LoggerMessage(1106, LogLevel.Debug, "MCP server '{Server}' stderr: {Line}")]
    public static partial void Stderr(ILogger logger, string server, LogText line);

    [LoggerMessage(1107, LogLevel.Information, "MCP server '{Server}' wrote a line to stdout that is not a JSON-RPC message; skipped: {Preview}")]
    public static partial void NonJsonLine(ILogger logger, string server, LogText preview);

    [LoggerMessage(1108, LogLevel.Warning, "MCP server '{Server}' wrote a {Length}-byte line to stdout, over the limit of {Limit} bytes; discarded")]
    public static partial void LineTooLong(ILogger logger, string server, long length, int limit);

    [LoggerMessage(1109, LogLevel.Error, "Reading the stdout of MCP server '{Server}' failed")]
    public static partial void ReaderFailed(ILogger logger, string server, Exception exception);

    [LoggerMessage(1111, LogLevel.Warning, "MCP server '{Server}' wrote a {Length}-byte line to stderr; kept its first {Kept} bytes")]
    public static partial void StderrLineTruncated(ILogger logger, string server, long length, int kept);

    [LoggerMessage(1110, LogLevel.Error, "A Restarted handler for MCP server '{Server}' threw")]
    public static partial void RestartedHandlerFailed(ILogger logger, string server, Exception exception);
}
