using System.Buffers;
using System.Text;
using System.Text.Json;
using Archestra.Runtime.JsonRpc;

namespace Archestra.Runtime.Protocol;

/// <summary>
/// What a request to a modern (2026-07-28) server must carry that a legacy request does not: the per-request
/// <c>_meta</c> envelope (basic, "Per-request protocol fields") and, on HTTP, the routing headers mirrored from the
/// body (transports, "Standard Request Headers"). The envelope is inserted as bytes; the rest of the request is copied.
/// </summary>
public static class ModernEnvelope
{
    /// <summary>
    /// The client capabilities declared when the caller names none (the gateway's own requests, a stateless 2025 client's):
    /// nobody could answer an input request, so a server that needs one says so (-32021) instead of asking.
    /// </summary>
    private const string NoCapabilities = "{}";

    /// <summary>A server/discover probe with the envelope (2026-07-28 transports/stdio and streamable-http, "Backward Compatibility").</summary>
    public static byte[] Discover(long id, string clientName, string clientVersion)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("jsonrpc"u8, "2.0"u8);
            w.WriteNumber("id"u8, id);
            w.WriteString("method"u8, McpMethods.ServerDiscover);
            w.WriteStartObject("params"u8);
            w.WritePropertyName(McpMeta.Property);
            w.WriteRawValue(Meta(clientName, clientVersion), skipInputValidation: true);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// The request with the envelope added, or null when nothing is needed: it already names its revision (a modern
    /// client's own request), or it is not a request.
    /// </summary>
    public static byte[]? Apply(ReadOnlySpan<byte> message, string clientName, string clientVersion, string capabilities = NoCapabilities)
    {
        if (JsonRpcEnvelope.TryParseLenient(message, out var env) != JsonRpcParseError.None || !env.IsRequest || !env.MetaProtocolVersion.IsEmpty)
        {
            return null;
        }

        var members = Members(clientName, clientVersion, capabilities);
        if (!env.Meta.IsEmpty && message[env.Meta.Start] == (byte)'{')
        {
            return Insert(message, env.Meta.Start + 1, members, IsEmptyObject(env.Meta.Of(message)) ? "" : ",");
        }

        var meta = "\"_meta\":{" + members + "}";
        if (!env.Params.IsEmpty && message[env.Params.Start] == (byte)'{')
        {
            if (!env.Meta.IsEmpty)
            {
                // A _meta that is not an object cannot take the envelope; the server will refuse it (-32602).
                return null;
            }

            return Insert(message, env.Params.Start + 1, meta, IsEmptyObject(env.Params.Of(message)) ? "" : ",");
        }

        if (!env.Params.IsEmpty)
        {
            return null;
        }

        var close = message.LastIndexOf((byte)'}');
        return close < 0 ? null : Insert(message, close, ",\"params\":{" + meta + "}", "");
    }

    /// <summary>
    /// The <c>Mcp-Method</c> and <c>Mcp-Name</c> values of a request (Mcp-Name Base64-encoded when not header-safe); null when not a
    /// request.
    /// </summary>
    public static (string Method, string? Name)? RoutingHeaders(ReadOnlySpan<byte> message)
    {
        if (
            JsonRpcEnvelope.TryParseLenient(message, out var env) != JsonRpcParseError.None
            || env.Kind is not (JsonRpcKind.Request or JsonRpcKind.Notification)
        )
        {
            return null;
        }

        var method = JsonObjectScan.ReadString(message, new Slice(env.Method.Start - 1, env.Method.Length + 2)) ?? "";
        var named =
            env.MethodIs(message, McpMethods.ToolsCall) || env.MethodIs(message, McpMethods.PromptsGet) ? env.ParamsName
            : env.MethodIs(message, McpMethods.ResourcesRead) ? env.ParamsUri
            : default;
        var name = named.IsEmpty ? null : JsonObjectScan.ReadString(message, named);
        return (method, name is null ? null : HeaderValue(name));
    }

    /// <summary>
    /// The <c>Mcp-Param-*</c> headers of a tools/call to a modern server: for each argument the tool's schema declares with
    /// <c>x-mcp-header</c> (<paramref name="declared"/>, by tool name), its value as the header carries it (strings encoded like
    /// <c>Mcp-Name</c>, numbers and booleans as written); an argument that is absent, null, an object or an array has none.
    /// Null when the message is no such call or the tool declares nothing.
    /// </summary>
    public static List<(string Name, string Value)>? ParamHeaderValues(ReadOnlySpan<byte> message, Func<string, ParamHeader[]> declared)
    {
        if (
            JsonRpcEnvelope.TryParseLenient(message, out var env) != JsonRpcParseError.None
            || env.Kind != JsonRpcKind.Request
            || !env.MethodIs(message, McpMethods.ToolsCall)
            || JsonObjectScan.ReadString(message, env.ParamsName) is not { } tool
            || declared(tool) is not { Length: > 0 } parameters
        )
        {
            return null;
        }

        var arguments = env.Arguments.Of(message);
        var headers = new List<(string, string)>(parameters.Length);
        foreach (var parameter in parameters)
        {
            if (ParamArgument(arguments, parameter.Property).Text is { } text)
            {
                headers.Add((McpHeaders.ParamPrefix + parameter.Header, HeaderValue(text)));
            }
        }

        return headers;
    }

    /// <summary>
    /// The value of one top-level argument as an <c>Mcp-Param-*</c> header carries it: a string unescaped (<c>Quoted</c>), a
    /// number or boolean as written; null for an argument that is absent, null, an object or an array (it has no header).
    /// </summary>
    public static (string? Text, bool Quoted) ParamArgument(ReadOnlySpan<byte> arguments, ReadOnlySpan<byte> property)
    {
        var slice = JsonObjectScan.FindValue(arguments, property);
        var value = slice.Of(arguments);
        if (value.IsEmpty || value.SequenceEqual("null"u8) || value[0] is (byte)'{' or (byte)'[')
        {
            return (null, false);
        }

        return value[0] == (byte)'"' ? (JsonObjectScan.ReadString(arguments, slice), true) : (Encoding.UTF8.GetString(value), false);
    }

    /// <summary>A value as an HTTP header: itself when plain visible ASCII, else <c>=?base64?…?=</c> (transports, "Value Encoding").</summary>
    public static string HeaderValue(string value)
    {
        var plain =
            value.Length > 0
            && value[0] != ' '
            && value[^1] != ' '
            && !(value.StartsWith(McpHeaders.Base64Prefix, StringComparison.Ordinal) && value.EndsWith(McpHeaders.Base64Suffix, StringComparison.Ordinal));
        foreach (var c in value)
        {
            plain &= c is >= ' ' and <= '~';
        }

        return plain ? value : McpHeaders.Base64Prefix + Convert.ToBase64String(Encoding.UTF8.GetBytes(value)) + McpHeaders.Base64Suffix;
    }

    private static string Members(string clientName, string clientVersion, string capabilities)
    {
        var meta = Meta(clientName, clientVersion, capabilities);
        return meta[1..^1];
    }

    private static string Meta(string clientName, string clientVersion, string capabilities = NoCapabilities)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString(McpMeta.ProtocolVersion, McpRevisions.LatestModern);
            w.WriteStartObject(McpMeta.ClientInfo);
            w.WriteString("name"u8, clientName);
            w.WriteString("version"u8, clientVersion);
            w.WriteEndObject();
            w.WritePropertyName(McpMeta.ClientCapabilities);
            w.WriteRawValue(capabilities, skipInputValidation: true);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static bool IsEmptyObject(ReadOnlySpan<byte> json) => json[1..].TrimStart(" \t\r\n"u8) is [(byte)'}', ..];

    private static byte[] Insert(ReadOnlySpan<byte> message, int at, string text, string separator)
    {
        var insert = Encoding.UTF8.GetBytes(text + separator);
        var result = new byte[message.Length + insert.Length];
        message[..at].CopyTo(result);
        insert.CopyTo(result.AsSpan(at));
        message[at..].CopyTo(result.AsSpan(at + insert.Length));
        return result;
    }
}
