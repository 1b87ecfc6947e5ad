using System.Text;
using Archestra.Runtime.Buffers;

namespace Archestra.Storage;

/// <summary>Which table an audit record belongs to. Persisted in spill files: append only.</summary>
public enum AuditKind : byte
{
    McpToolCall = 1,
    LlmInteraction = 2,
}

/// <summary>
/// One audit row. The hot path creates it, fills it and hands it to <see cref="AuditWriter.Enqueue(AuditRecord)"/>;
/// after that the writer owns it and nobody mutates it. The id is a UUIDv7 of <see cref="Time"/>, so ids sort by
/// time and the primary key index stays append-mostly.
/// </summary>
public abstract class AuditRecord
{
    private protected AuditRecord()
    {
        var now = DateTimeOffset.UtcNow;
        Time = AuditTime.Truncate(now.UtcDateTime);
        Id = Guid.CreateVersion7(now);
    }

    /// <summary>Primary key; replaying a record with the same id never adds a second row.</summary>
    public Guid Id { get; init; }

    /// <summary>UTC, microsecond precision (what PostgreSQL's timestamptz keeps).</summary>
    public DateTime Time { get; init; }

    public string Profile { get; init; } = "";

    /// <summary>The client's <c>X-Archestra-Agent-Id</c> header: which agent made the request (null when not sent).</summary>
    public string? AgentId { get; init; }

    /// <summary>The client's <c>X-Archestra-Session-Id</c> header: the agent's conversation, across MCP sessions and LLM calls.</summary>
    public string? AgentSessionId { get; init; }

    public abstract AuditKind Kind { get; }
}

/// <summary>One MCP tools/call as the gateway handled it.</summary>
public sealed class McpToolCallRecord : AuditRecord
{
    public override AuditKind Kind => AuditKind.McpToolCall;

    public string? SessionId { get; init; }

    public string Server { get; init; } = "";

    public string Tool { get; init; } = "";

    /// <summary>Policy decision: e.g. allow, deny, quarantine.</summary>
    public string Decision { get; init; } = "allow";

    public string? PolicyId { get; init; }

    /// <summary>A small fixed set (ok, error, denied, timeout, ...), the same values as the metrics' outcome label.</summary>
    public string Outcome { get; init; } = "ok";

    public long DurationMicroseconds { get; init; }

    public long RequestBytes { get; init; }

    public long ResponseBytes { get; init; }

    public string? Error { get; init; }

    /// <summary>
    /// The call's arguments as JSON text, cut to <see cref="StorageOptions.MaxArgumentBytes"/> UTF-8 bytes by the
    /// writer (so possibly not valid JSON). Create it with <see cref="AuditText.Truncate(ReadOnlySpan{byte}, int)"/>
    /// to avoid materializing a large string first.
    /// </summary>
    public string? Arguments { get; init; }
}

/// <summary>One request to an LLM provider through the proxy.</summary>
public sealed class LlmInteractionRecord : AuditRecord
{
    public override AuditKind Kind => AuditKind.LlmInteraction;

    public string Provider { get; init; } = "";

    public string RequestedModel { get; init; } = "";

    public string? UsedModel { get; init; }

    public long InputTokens { get; init; }

    public long OutputTokens { get; init; }

    public long CachedInputTokens { get; init; }

    public long ReasoningTokens { get; init; }

    /// <summary>In US dollars; stored as numeric(20,10). Null when the model has no price (never a wrong 0).</summary>
    public decimal? Cost { get; init; }

    public long DurationMicroseconds { get; init; }

    /// <summary>Time to first token for streamed answers.</summary>
    public long? TimeToFirstTokenMicroseconds { get; init; }

    /// <summary>e.g. ok, error, blocked, limited.</summary>
    public string Status { get; init; } = "ok";

    /// <summary>Names of tool calls the proxy blocked, comma-separated.</summary>
    public string? BlockedTools { get; init; }

    public string? Error { get; init; }
}

/// <summary>Time helpers shared by the writer, the stores and the spill format.</summary>
public static class AuditTime
{
    public static DateTime Truncate(DateTime utc) => new(utc.Ticks - (utc.Ticks % TimeSpan.TicksPerMicrosecond), DateTimeKind.Utc);

    public static long ToUnixMicroseconds(DateTime utc) => (utc.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond;

    public static DateTime FromUnixMicroseconds(long us) => new(DateTime.UnixEpoch.Ticks + (us * TimeSpan.TicksPerMicrosecond), DateTimeKind.Utc);
}

/// <summary>Text helpers for building records without oversized allocations.</summary>
public static class AuditText
{
    /// <summary>
    /// Decodes at most <paramref name="maxBytes"/> bytes of UTF-8, cutting on a character boundary, so a 1 MB
    /// argument object costs a 4 KB string, not a 1 MB one.
    /// </summary>
    public static string Truncate(ReadOnlySpan<byte> utf8, int maxBytes)
    {
        if (utf8.Length > maxBytes)
        {
            var cut = Math.Max(maxBytes, 0);
            // Back up over continuation bytes (10xxxxxx) so a multi-byte character is not split.
            while (cut > 0 && (utf8[cut] & 0xC0) == 0x80)
            {
                cut--;
            }

            utf8 = utf8[..cut];
        }

        return Encoding.UTF8.GetString(utf8);
    }

    /// <summary><paramref name="text"/> cut to at most <paramref name="maxBytes"/> UTF-8 bytes; the same string when it fits.</summary>
    public static string? Truncate(string? text, int maxBytes)
    {
        if (text is null || text.Length * 3 <= maxBytes || Encoding.UTF8.GetByteCount(text) <= maxBytes)
        {
            return text;
        }

        var buffer = BytePool.Rent(Encoding.UTF8.GetByteCount(text));
        try
        {
            var length = Encoding.UTF8.GetBytes(text, buffer);
            return Truncate(buffer.AsSpan(0, length), maxBytes);
        }
        finally
        {
            BytePool.Return(buffer);
        }
    }
}
