using Archestra.Runtime.Diagnostics;

namespace Archestra.Gateway.Mcp;

internal static partial class Log
{
    [LoggerMessage(2001, LogLevel.Information, "MCP server '{Server}' is ready (protocol {Version})")]
    public static partial void UpstreamReady(ILogger logger, string server, LogText version);

    [LoggerMessage(2002, LogLevel.Warning, "MCP server '{Server}' is down: {Detail}")]
    public static partial void UpstreamDown(ILogger logger, string server, LogText detail);

    [LoggerMessage(2003, LogLevel.Warning, "MCP server '{Server}' failed to start: {Detail}")]
    public static partial void UpstreamStartFailed(ILogger logger, string server, LogText detail);

    [LoggerMessage(2004, LogLevel.Warning, "Listing from MCP server '{Server}' failed; its items are left out: {Detail}")]
    public static partial void ListFailed(ILogger logger, string server, LogText detail);

    [LoggerMessage(2005, LogLevel.Information, "Rejected {Method} from MCP server '{Server}': {Reason}")]
    public static partial void ServerRequestRejected(ILogger logger, string server, LogText method, LogText reason);

    [LoggerMessage(2006, LogLevel.Warning, "Stopping MCP server '{Server}' failed: {Detail}")]
    public static partial void UpstreamStopFailed(ILogger logger, string server, LogText detail);

    [LoggerMessage(2007, LogLevel.Debug, "Call to MCP server '{Server}' failed ({Error}): {Detail}")]
    public static partial void CallFailed(ILogger logger, string server, string error, LogText detail);

    [LoggerMessage(2008, LogLevel.Debug, "Client answered unknown server request id {Id} in session {Session}")]
    public static partial void UnknownServerRequestAnswer(ILogger logger, LogText id, LogText session);

    [LoggerMessage(2009, LogLevel.Warning, "Profile '{Profile}' has no tokens: anyone who can reach the gateway port can use it")]
    public static partial void OpenProfile(ILogger logger, string profile);

    [LoggerMessage(2010, LogLevel.Information, "Refused {Tool} in session {Session}: {Text}")]
    public static partial void CallRefused(ILogger logger, LogText tool, LogText session, LogText text);

    [LoggerMessage(2011, LogLevel.Information, "Blocked the result of {Tool} by policy {Policy} in session {Session}")]
    public static partial void ResultBlocked(ILogger logger, LogText tool, string policy, LogText session);

    [LoggerMessage(2012, LogLevel.Information, "Session {Session} is now untrusted: the result of {Tool} was untrusted ({Policy})")]
    public static partial void SessionTainted(ILogger logger, LogText session, LogText tool, string policy);

    [LoggerMessage(2013, LogLevel.Information, "Approval of {Tool} in session {Session}: {Answer}")]
    public static partial void ApprovalAnswered(ILogger logger, LogText tool, LogText session, LogText answer);

    [LoggerMessage(2014, LogLevel.Information, "The gateway's subscriptions/listen on MCP server '{Server}' ended ({Detail}); opening it again")]
    public static partial void ListenEnded(ILogger logger, string server, LogText detail);

    [LoggerMessage(2015, LogLevel.Error, "An approval answer was refused: recording its requestState as answered failed ({Kind}: {Detail})")]
    public static partial void ApprovalLedgerFailed(ILogger logger, string kind, LogText detail);

    [LoggerMessage(2016, LogLevel.Information, "Session {Session} is untrusted: another replica recorded a result of {Tool} that tainted it")]
    public static partial void SessionTaintedElsewhere(ILogger logger, LogText session, LogText tool);

    [LoggerMessage(2017, LogLevel.Error, "Session trust shared between replicas: the database {Operation} failed ({Kind}: {Detail}); judged as untrusted")]
    public static partial void SharedTrustFailed(ILogger logger, string operation, string kind, LogText detail);
}
