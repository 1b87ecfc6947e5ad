using Archestra.Runtime.Diagnostics;

namespace Archestra.Gateway.Kubernetes;

/// <summary>The Kubernetes runtime's log messages: event ids 5000-5099.</summary>
internal static partial class Log
{
    [LoggerMessage(5000, LogLevel.Information, "Kubernetes runtime: namespace {Namespace} at {Host}, replica {Identity}")]
    public static partial void Started(ILogger logger, string @namespace, string host, string identity);

    [LoggerMessage(5001, LogLevel.Warning, "Kubernetes runtime: {Detail}")]
    public static partial void Failed(ILogger logger, LogText detail);

    [LoggerMessage(5002, LogLevel.Information, "Kubernetes runtime: the API server answers again")]
    public static partial void Recovered(ILogger logger);

    [LoggerMessage(5003, LogLevel.Information, "Kubernetes runtime: this replica ({Identity}) reconciles now")]
    public static partial void Leading(ILogger logger, string identity);

    [LoggerMessage(5004, LogLevel.Information, "Kubernetes runtime: {Change}")]
    public static partial void Changed(ILogger logger, string change);

    [LoggerMessage(5005, LogLevel.Warning, "MCP server '{Server}' on Kubernetes: {Detail}")]
    public static partial void ServerFailing(ILogger logger, string server, LogText detail);

    [LoggerMessage(5006, LogLevel.Information, "MCP server '{Server}' on Kubernetes is reached at {Address}")]
    public static partial void Address(ILogger logger, string server, Uri address);
}
