using System.Buffers;
using System.Text.Json;
using Archestra.Runtime.JsonRpc;

namespace Archestra.Gateway.Mcp;

/// <summary>
/// What a 2026-07-28 client reads on every result that a 2025 server did not write: the required
/// <c>resultType</c> (basic, "ResultType") and, on cacheable results, <c>ttlMs</c> and <c>cacheScope</c>
/// (server/utilities/caching). A forwarded result gets them by one insertion after its opening brace, copied
/// with the id rewrite in the same pass, so the result itself is never re-serialized.
/// </summary>
internal static class ModernResults
{
    /// <summary>
    /// How long a modern client may reuse a list or read result. A 2025 server promises no freshness, so nothing is
    /// promised: 0 means "immediately stale" (caching, "Time-to-Live"); subscriptions/listen tells of changes.
    /// </summary>
    public const int TtlMs = 0;

    // Profiles can be per token and upstream results per user: no shared cache may hold them.
    private static ReadOnlySpan<byte> Scope => "private"u8;

    private static ReadOnlySpan<byte> Complete => "\"resultType\":\"complete\","u8;
    private static ReadOnlySpan<byte> CompleteCacheable => "\"resultType\":\"complete\",\"ttlMs\":0,\"cacheScope\":\"private\","u8;

    /// <summary>
    /// The bytes to insert after the result's <c>{</c> (the insertion point is <c>result.Start + 1</c>), or empty when the
    /// result already says what it is (a modern upstream) or is not an object. The trailing comma is dropped for <c>{}</c>.
    /// </summary>
    public static ReadOnlySpan<byte> Insertion(ReadOnlySpan<byte> message, Slice result, bool cacheable)
    {
        var json = result.Of(message);
        if (json.IsEmpty || json[0] != (byte)'{' || !JsonObjectScan.FindValue(json, "resultType"u8).IsEmpty)
        {
            return default;
        }

        var text = cacheable ? CompleteCacheable : Complete;
        var rest = json[1..].TrimStart(" \t\r\n"u8);
        return rest.Length > 0 && rest[0] == (byte)'}' ? text[..^1] : text;
    }

    /// <summary>Appends the modern fields to a result the gateway builds itself (lists), before its closing brace.</summary>
    public static void AppendListFields(IBufferWriter<byte> buffer)
    {
        buffer.Write(",\"resultType\":\"complete\",\"ttlMs\":0,\"cacheScope\":\"private\""u8);
    }

    public static void WriteCacheHints(Utf8JsonWriter w)
    {
        w.WriteNumber("ttlMs"u8, TtlMs);
        w.WriteString("cacheScope"u8, Scope);
    }

    /// <summary>
    /// The edit that turns a legacy resource-not-found (-32002) into the -32602 that 2026-07-28 requires (SEP-2164);
    /// none for any other error.
    /// </summary>
    public static Slice LegacyNotFoundCode(ReadOnlySpan<byte> message, Slice error)
    {
        var json = error.Of(message);
        var code = JsonObjectScan.FindValue(json, "code"u8);
        return !code.IsEmpty && code.Of(json).SequenceEqual("-32002"u8) ? new Slice(error.Start + code.Start, code.Length) : default;
    }

    public static ReadOnlySpan<byte> InvalidParamsCode => "-32602"u8;

    /// <summary>Whether an error response carries <paramref name="code"/>.</summary>
    public static bool ErrorCodeIs(Runtime.Upstreams.UpstreamMessage response, int code)
    {
        var error = response.Envelope.Error.Of(response.Span);
        var value = JsonObjectScan.FindValue(error, "code"u8).Of(error);
        return System.Buffers.Text.Utf8Parser.TryParse(value, out int parsed, out var consumed) && consumed == value.Length && parsed == code;
    }

    /// <summary>Whether a modern server's result asks for input (<c>resultType: "input_required"</c>, basic/patterns/mrtr).</summary>
    public static bool IsInputRequired(Runtime.Upstreams.UpstreamMessage response)
    {
        if (response.Kind != JsonRpcKind.Response)
        {
            return false;
        }

        var result = response.Envelope.Result.Of(response.Span);
        return JsonObjectScan.FindValue(result, "resultType"u8).Of(result).SequenceEqual("\"input_required\""u8);
    }
}
