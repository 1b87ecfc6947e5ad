using System.Buffers;
using System.Text;
using System.Text.Json;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Protocol;
using Microsoft.Extensions.Primitives;

namespace Archestra.Gateway.Mcp;

/// <summary>Why a modern request was refused before routing: the HTTP status, the JSON-RPC code and an actionable message.</summary>
internal readonly record struct ModernFailure(int Status, int Code, string Message, string? Requested = null);

/// <summary>
/// The validation ladder of a 2026-07-28 request, in the order the answers are specified: the per-request
/// <c>_meta</c> fields (-32602, basic "Per-request protocol fields"), the MCP-Protocol-Version header against the
/// body (-32020, transports "Protocol Version Header"), the revision itself (-32022 with the supported list,
/// basic/versioning), then <c>Mcp-Method</c> and <c>Mcp-Name</c> against the body (-32020, "Server Validation").
/// Every refusal is HTTP 400. What the gateway routes on is the body, and the body is what the upstream receives.
/// </summary>
internal static class ModernValidation
{
    /// <summary>Header values up to this many UTF-8 bytes are compared on the stack; longer ones are decoded once.</summary>
    private const int StackBytes = 256;

    public static ModernFailure? Check(HttpRequest request, ReadOnlySpan<byte> body, in JsonRpcEnvelope env)
    {
        if (env.Meta.IsEmpty || body[env.Meta.Start] != (byte)'{')
        {
            return Invalid("params._meta is missing or not an object");
        }

        var version = env.MetaProtocolVersion;
        if (version.Length < 2 || body[version.Start] != (byte)'"' || version.Of(body).IndexOf((byte)'\\') >= 0)
        {
            return Invalid("params._meta[\"io.modelcontextprotocol/protocolVersion\"] is missing or not a plain string");
        }

        if (env.MetaClientCapabilities.IsEmpty || body[env.MetaClientCapabilities.Start] != (byte)'{')
        {
            return Invalid("params._meta[\"io.modelcontextprotocol/clientCapabilities\"] is missing or not an object");
        }

        var bodyVersion = body.Slice(version.Start + 1, version.Length - 2);
        var headers = request.Headers;
        if (!TryOne(headers[McpHeaders.ProtocolVersion], out var headerVersion))
        {
            return Mismatch($"the {McpHeaders.ProtocolVersion} header is required on every request and must appear once");
        }

        if (!SameText(headerVersion, bodyVersion))
        {
            return Mismatch($"{McpHeaders.ProtocolVersion} header value '{headerVersion}' does not match body value '{Encoding.UTF8.GetString(bodyVersion)}'");
        }

        if (!McpRevisions.IsModern(bodyVersion))
        {
            var requested = Encoding.UTF8.GetString(bodyVersion);
            return new ModernFailure(
                StatusCodes.Status400BadRequest,
                McpErrorCodes.UnsupportedProtocolVersion,
                $"Unsupported protocol version '{requested}'. Supported: {string.Join(", ", McpRevisions.All)} (the 2025 revisions through initialize).",
                requested
            );
        }

        if (!TryOne(headers[McpHeaders.Method], out var headerMethod))
        {
            return Mismatch($"the {McpHeaders.Method} header is required on every request and must appear once");
        }

        if (env.MethodEscaped || !SameText(headerMethod, env.Method.Of(body)))
        {
            return Mismatch($"{McpHeaders.Method} header value '{headerMethod}' does not match body value '{Encoding.UTF8.GetString(env.Method.Of(body))}'");
        }

        var named =
            env.MethodIs(body, McpMethods.ToolsCall) || env.MethodIs(body, McpMethods.PromptsGet) ? env.ParamsName
            : env.MethodIs(body, McpMethods.ResourcesRead) ? env.ParamsUri
            : default;
        if (named.IsEmpty)
        {
            return null;
        }

        if (!TryOne(headers[McpHeaders.Name], out var headerName))
        {
            return Mismatch($"the {McpHeaders.Name} header is required when the body has params.{(named == env.ParamsUri ? "uri" : "name")}");
        }

        // The common case compares bytes: a name without JSON escapes against a header that is not Base64-encoded.
        var raw = body.Slice(named.Start + 1, named.Length - 2);
        if (raw.IndexOf((byte)'\\') < 0 && !headerName.StartsWith(McpHeaders.Base64Prefix, StringComparison.Ordinal))
        {
            return SameText(headerName, raw)
                ? null
                : Mismatch($"{McpHeaders.Name} header value '{headerName}' does not match body value '{Encoding.UTF8.GetString(raw)}'");
        }

        var bodyName = JsonObjectScan.ReadString(body, named);
        if (!TryDecode(headerName, out var decoded))
        {
            return Mismatch($"{McpHeaders.Name} header value '{headerName}' is not valid {McpHeaders.Base64Prefix}…{McpHeaders.Base64Suffix} Base64");
        }

        return decoded == bodyName ? null : Mismatch($"{McpHeaders.Name} header value '{decoded}' does not match body value '{bodyName}'");
    }

    /// <summary>The error body of a refusal, with the request's id; -32022 carries <c>data.supported</c> and <c>data.requested</c>.</summary>
    public static byte[] Error(ReadOnlySpan<byte> rawId, in ModernFailure failure)
    {
        if (failure.Requested is null)
        {
            return JsonRpcWriter.Error(rawId, failure.Code, failure.Message);
        }

        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("jsonrpc"u8, "2.0"u8);
            w.WritePropertyName("id"u8);
            w.WriteRawValue(rawId.IsEmpty ? "null"u8 : rawId, skipInputValidation: true);
            w.WriteStartObject("error"u8);
            w.WriteNumber("code"u8, failure.Code);
            w.WriteString("message"u8, failure.Message);
            w.WriteStartObject("data"u8);
            w.WriteStartArray("supported"u8);
            foreach (var version in McpRevisions.All)
            {
                w.WriteStringValue(version);
            }

            w.WriteEndArray();
            w.WriteString("requested"u8, failure.Requested);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The log level the request asked for in <c>_meta</c>; null means no notifications/message at all (2026-07-28 logging).</summary>
    public static LogLevelMcp? LogLevel(ReadOnlySpan<byte> body, in JsonRpcEnvelope env)
    {
        var level = env.MetaLogLevel;
        return level.Length < 2 || body[level.Start] != (byte)'"' ? null : LogFilter.Parse(body.Slice(level.Start + 1, level.Length - 2));
    }

    private static ModernFailure Invalid(string what) =>
        new(
            StatusCodes.Status400BadRequest,
            McpErrorCodes.InvalidParams,
            $"Invalid params: {what}. A 2026-07-28 request carries params._meta with io.modelcontextprotocol/protocolVersion (a string) "
                + "and io.modelcontextprotocol/clientCapabilities (an object)."
        );

    public static ModernFailure Mismatch(string what) => new(StatusCodes.Status400BadRequest, McpErrorCodes.HeaderMismatch, $"Header mismatch: {what}.");

    /// <summary>One header value with optional whitespace removed (RFC 9110 §5.5); false when absent or repeated.</summary>
    public static bool TryOne(StringValues values, out string value)
    {
        value = values.Count == 1 ? values[0]!.Trim() : "";
        return values.Count == 1;
    }

    /// <summary>Ordinal comparison of a header value with UTF-8 body text, without allocating for short values.</summary>
    private static bool SameText(string header, ReadOnlySpan<byte> utf8)
    {
        var max = Encoding.UTF8.GetMaxByteCount(header.Length);
        if (max > StackBytes)
        {
            return Encoding.UTF8.GetString(utf8) == header;
        }

        Span<byte> buffer = stackalloc byte[StackBytes];
        var n = Encoding.UTF8.GetBytes(header, buffer);
        return buffer[..n].SequenceEqual(utf8);
    }

    /// <summary>
    /// Decodes the <c>=?base64?…?=</c> form of <c>Mcp-Name</c> and <c>Mcp-Param-*</c> (transports, "Value Encoding"); other values
    /// are literal.
    /// </summary>
    public static bool TryDecode(string header, out string value)
    {
        value = header;
        if (
            !header.StartsWith(McpHeaders.Base64Prefix, StringComparison.Ordinal)
            || !header.EndsWith(McpHeaders.Base64Suffix, StringComparison.Ordinal)
            || header.Length < McpHeaders.Base64Prefix.Length + McpHeaders.Base64Suffix.Length
        )
        {
            return true;
        }

        var encoded = header.AsSpan(McpHeaders.Base64Prefix.Length, header.Length - McpHeaders.Base64Prefix.Length - McpHeaders.Base64Suffix.Length);
        var bytes = new byte[(encoded.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64Chars(encoded, bytes, out var written))
        {
            return false;
        }

        try
        {
            value = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes, 0, written);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }
}
