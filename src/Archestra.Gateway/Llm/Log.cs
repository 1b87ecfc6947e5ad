using Archestra.Runtime.Diagnostics;

namespace Archestra.Gateway.Llm;

internal static partial class Log
{
    [LoggerMessage(
        3001,
        LogLevel.Warning,
        "LLM profile '{Profile}' has neither virtual keys nor pass-through: anyone who can reach the gateway port spends its provider keys"
    )]
    public static partial void OpenLlmProfile(ILogger logger, string profile);

    [LoggerMessage(3002, LogLevel.Warning, "LLM provider '{Provider}' could not be reached: {Detail}")]
    public static partial void UpstreamUnreachable(ILogger logger, string provider, LogText detail);

    [LoggerMessage(3003, LogLevel.Warning, "LLM provider '{Provider}' did not answer within {Seconds} s")]
    public static partial void UpstreamTimeout(ILogger logger, string provider, double seconds);

    [LoggerMessage(3004, LogLevel.Information, "The stream from LLM provider '{Provider}' broke off: {Detail}")]
    public static partial void StreamCut(ILogger logger, string provider, LogText detail);

    [LoggerMessage(3005, LogLevel.Error, "The LLM prices, limits or optimization rules could not be loaded; the previous ones stay in force")]
    public static partial void CostsNotLoaded(ILogger logger, Exception exception);

    [LoggerMessage(3006, LogLevel.Warning, "The usage of LLM profile '{Profile}' could not be read; its budget is checked against the last known usage")]
    public static partial void UsageNotRead(ILogger logger, string profile, Exception exception);

    [LoggerMessage(3007, LogLevel.Warning, "LLM profile '{Profile}' ({Provider}): tool calls in the answer were refused and replaced by text: {Calls}")]
    public static partial void ToolCallsBlocked(ILogger logger, string profile, string provider, LogText calls);
}
