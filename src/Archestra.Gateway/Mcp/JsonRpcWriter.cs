using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;

namespace Archestra.Gateway.Mcp;

/// <summary>Builds the JSON-RPC messages the gateway itself originates, and frames them for HTTP.</summary>
internal static class JsonRpcWriter
{
    private static ReadOnlySpan<byte> NullId => "null"u8;

    /// <summary>
    /// Error texts quote names ('x') and may hold non-ASCII; relaxed escaping keeps them readable in
    /// curl output. Safe here: these bodies are application/json, never embedded in HTML.
    /// </summary>
    private static readonly JsonWriterOptions Options = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>An error response. <paramref name="rawId"/> is the request id as raw JSON (empty: null).</summary>
    public static byte[] Error(ReadOnlySpan<byte> rawId, int code, string message, string? server = null, string? stage = null)
    {
        Telemetry.ArchestraTelemetry.ErrorCode(code, message);
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, Options))
        {
            w.WriteStartObject();
            w.WriteString("jsonrpc"u8, "2.0"u8);
            w.WritePropertyName("id"u8);
            w.WriteRawValue(rawId.IsEmpty ? NullId : rawId, skipInputValidation: true);
            w.WriteStartObject("error"u8);
            w.WriteNumber("code"u8, code);
            w.WriteString("message"u8, message);
            if (server is not null || stage is not null)
            {
                w.WriteStartObject("data"u8);
                if (server is not null)
                {
                    w.WriteString("server"u8, server);
                }

                if (stage is not null)
                {
                    w.WriteString("stage"u8, stage);
                }

                w.WriteEndObject();
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A request the gateway itself sends upstream, with at most one string param (omitted when null).</summary>
    public static byte[] Request(long id, string method, string? paramName = null, string? paramValue = null)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var w = new Utf8JsonWriter(buffer, Options))
        {
            w.WriteStartObject();
            w.WriteString("jsonrpc"u8, "2.0"u8);
            w.WriteNumber("id"u8, id);
            w.WriteString("method"u8, method);
            w.WriteStartObject("params"u8);
            if (paramName is not null && paramValue is not null)
            {
                w.WriteString(paramName, paramValue);
            }

            w.WriteEndObject();
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A result response whose result object is written by <paramref name="writeResult"/>.</summary>
    public static byte[] Result<TState>(ReadOnlySpan<byte> rawId, TState state, Action<Utf8JsonWriter, TState> writeResult)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer, Options))
        {
            w.WriteStartObject();
            w.WriteString("jsonrpc"u8, "2.0"u8);
            w.WritePropertyName("id"u8);
            w.WriteRawValue(rawId, skipInputValidation: true);
            w.WritePropertyName("result"u8);
            writeResult(w, state);
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A response with an empty result object (ping, logging/setLevel, subscribe).</summary>
    public static byte[] EmptyResult(ReadOnlySpan<byte> rawId) => Concat("{\"jsonrpc\":\"2.0\",\"id\":"u8, rawId, ",\"result\":{}}"u8);

    /// <summary>A notification with no params, e.g. notifications/tools/list_changed.</summary>
    public static byte[] Notification(ReadOnlySpan<byte> method) => Concat("{\"jsonrpc\":\"2.0\",\"method\":\""u8, method, "\"}"u8);

    private static byte[] Concat(ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> value, ReadOnlySpan<byte> suffix)
    {
        var bytes = new byte[prefix.Length + value.Length + suffix.Length];
        prefix.CopyTo(bytes);
        value.CopyTo(bytes.AsSpan(prefix.Length));
        suffix.CopyTo(bytes.AsSpan(prefix.Length + value.Length));
        return bytes;
    }

    private static ReadOnlySpan<byte> EventPrefix => "event: message\n"u8;
    private static ReadOnlySpan<byte> DataPrefix => "data: "u8;

    /// <summary>
    /// Writes one SSE event carrying <paramref name="json"/>. A JSON text may contain line breaks as
    /// whitespace (pretty-printed upstream answers); each line becomes its own <c>data:</c> field, which
    /// the SSE parser joins back with "\n" (HTML Living Standard, server-sent events §9.2.6).
    /// </summary>
    public static void WriteSseEvent(PipeWriter writer, ReadOnlySpan<byte> json, long? eventId = null)
    {
        var span = writer.GetSpan(json.Length + 64);
        if (span.Length < json.Length + 64 || json.IndexOfAny((byte)'\n', (byte)'\r') >= 0)
        {
            WriteSseEventSlow(writer, json, eventId);
            return;
        }

        var n = 0;
        if (eventId is long id)
        {
            "id: "u8.CopyTo(span);
            n += 4;
            System.Buffers.Text.Utf8Formatter.TryFormat(id, span[n..], out var w);
            n += w;
            span[n++] = (byte)'\n';
        }

        EventPrefix.CopyTo(span[n..]);
        n += EventPrefix.Length;
        DataPrefix.CopyTo(span[n..]);
        n += DataPrefix.Length;
        json.CopyTo(span[n..]);
        n += json.Length;
        span[n++] = (byte)'\n';
        span[n++] = (byte)'\n';
        writer.Advance(n);
    }

    private static void WriteSseEventSlow(PipeWriter writer, ReadOnlySpan<byte> json, long? eventId)
    {
        if (eventId is long id)
        {
            writer.Write("id: "u8);
            Span<byte> digits = stackalloc byte[20];
            System.Buffers.Text.Utf8Formatter.TryFormat(id, digits, out var w);
            writer.Write(digits[..w]);
            writer.Write("\n"u8);
        }

        writer.Write(EventPrefix);
        var rest = json;
        while (true)
        {
            var nl = rest.IndexOfAny((byte)'\n', (byte)'\r');
            writer.Write(DataPrefix);
            if (nl < 0)
            {
                writer.Write(rest);
                writer.Write("\n"u8);
                break;
            }

            writer.Write(rest[..nl]);
            writer.Write("\n"u8);
            var skip = rest[nl] == (byte)'\r' && nl + 1 < rest.Length && rest[nl + 1] == (byte)'\n' ? 2 : 1;
            rest = rest[(nl + skip)..];
        }

        writer.Write("\n"u8);
    }
}
