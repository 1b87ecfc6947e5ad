using Archestra.Runtime.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Archestra.Storage;

internal static partial class Log
{
    [LoggerMessage(4001, LogLevel.Information, "Storage: {Dialect} at {Location}")]
    public static partial void Opened(ILogger logger, string dialect, string location);

    [LoggerMessage(4002, LogLevel.Information, "Applied schema migration {Version} ({Name})")]
    public static partial void MigrationApplied(ILogger logger, int version, string name);

    [LoggerMessage(4003, LogLevel.Warning, "Audit database write failed; spilling to {Directory} until it is back: {Detail}")]
    public static partial void DatabaseDown(ILogger logger, string directory, LogText detail);

    [LoggerMessage(4004, LogLevel.Information, "Audit database is reachable again")]
    public static partial void DatabaseBack(ILogger logger);

    [LoggerMessage(4005, LogLevel.Information, "Replayed {Count} audit records from {File}")]
    public static partial void SpillReplayed(ILogger logger, int count, string file);

    [LoggerMessage(4006, LogLevel.Warning, "Audit spill file {File}: skipped {Length} corrupt or torn bytes at offset {Offset}")]
    public static partial void SpillCorruptRegion(ILogger logger, string file, int offset, int length);

    [LoggerMessage(4007, LogLevel.Warning, "Audit spill file {File} has no ARCSPL01 header; reading it frame by frame")]
    public static partial void SpillBadHeader(ILogger logger, string file);

    [LoggerMessage(4008, LogLevel.Error, "Audit spill write failed; {Count} records are lost: {Detail}")]
    public static partial void SpillFailed(ILogger logger, int count, LogText detail);

    [LoggerMessage(4009, LogLevel.Information, "Retention deleted {Count} audit rows older than {Cutoff:o}")]
    public static partial void RetentionDeleted(ILogger logger, long count, DateTime cutoff);

    [LoggerMessage(4010, LogLevel.Warning, "Audit retention failed: {Detail}")]
    public static partial void RetentionFailed(ILogger logger, LogText detail);

    [LoggerMessage(4011, LogLevel.Warning, "Replaying audit spill {File} failed; it is kept for the next attempt: {Detail}")]
    public static partial void SpillReplayFailed(ILogger logger, string file, LogText detail);

    [LoggerMessage(4012, LogLevel.Information, "Listening for other replicas' admin changes (PostgreSQL channel {Channel})")]
    public static partial void ChangesListening(ILogger logger, string channel);

    [LoggerMessage(4013, LogLevel.Warning, "Lost the connection that hears other replicas' admin changes; reconnecting in {DelayMs} ms: {Detail}")]
    public static partial void ChangesLost(ILogger logger, long delayMs, LogText detail);
}
