using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Archestra.Fixture.Mcp;
using Archestra.Fixture.Tools;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Archestra.Fixture.Http;

/// <summary>
/// MCP 2026-07-28 on the fixture's /mcp: a request that names a modern revision (header or <c>_meta</c>) is served by a
/// fresh stateless SDK server, after the transport's header checks (2026-07-28 transports, "Server Validation"), which
/// live in HTTP and so are not the SDK core's. The SDK answers the rest of the ladder (-32602, -32022, -32601).
/// </summary>
internal sealed class ModernLeg(FixtureCatalog catalog, ILoggerFactory loggerFactory)
{
    private const string Revision = "2026-07-28";
    private static readonly string[] LegacyRevisions = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

    /// <summary>Methods 2026-07-28 removed (basic/lifecycle): answered -32601 here, before the SDK, which would still serve some.</summary>
    private static readonly string[] RemovedMethods = ["initialize", "ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"];

    /// <summary>Modern when the header names a revision that is not a 2025 one, or the body carries the envelope without a 2025 header.</summary>
    public static bool Claims(HttpRequest request, JsonRpcMessage message)
    {
        var header = request.Headers["MCP-Protocol-Version"].ToString().Trim();
        if (header.Length > 0)
        {
            return Array.IndexOf(LegacyRevisions, header) < 0;
        }

        return message is JsonRpcRequest { Params: JsonObject p }
            && p["_meta"] is JsonObject meta
            && meta.ContainsKey("io.modelcontextprotocol/protocolVersion");
    }

    public async Task ServeAsync(HttpContext context, JsonRpcMessage message)
    {
        if (message is not JsonRpcRequest request)
        {
            context.Response.StatusCode = message is JsonRpcNotification ? StatusCodes.Status202Accepted : StatusCodes.Status400BadRequest;
            return;
        }

        if (Refusal(context.Request, request) is { } refusal)
        {
            await WriteErrorAsync(context, request.Id, refusal).ConfigureAwait(false);
            return;
        }

        var transport = new StreamableHttpServerTransport(loggerFactory) { Stateless = true };
        var fixture = new FixtureSession(catalog, loggerFactory.CreateLogger<FixtureSession>());
        var server = McpServer.Create(transport, FixtureServer.CreateOptions(fixture), loggerFactory);
        fixture.Attach(server);
        await using (server.ConfigureAwait(false))
        await using (transport.ConfigureAwait(false))
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            var run = server.RunAsync(stop.Token);
            // Buffered: the status has to follow the answer (a refusal is 400, an unknown method 404), and the SDK writes
            // the stream's first bytes before the answer is known. The fixture's answers are small.
            using var buffer = new MemoryStream();
            try
            {
                await transport.HandlePostRequestAsync(message, buffer, context.RequestAborted).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
                // The client closed the stream: for 2026-07-28 that is the cancellation of the request.
                return;
            }

            context.Response.StatusCode = StatusFor(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), request.Id);
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache,no-store";
            await context.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), context.RequestAborted).ConfigureAwait(false);

            await stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await run.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopped above.
            }
        }
    }

    /// <summary>400 for the refusals the transport names (-32602, -32020, -32021, -32022), 404 for -32601, else 200.</summary>
    private static int StatusFor(ReadOnlySpan<byte> sse, RequestId id)
    {
        foreach (var line in Encoding.UTF8.GetString(sse).Split('\n'))
        {
            if (!line.StartsWith("data:", StringComparison.Ordinal))
            {
                continue;
            }

            using var doc = JsonDocument.Parse(line["data:".Length..]);
            var root = doc.RootElement;
            if (!root.TryGetProperty("id"u8, out var answerId) || answerId.ToString() != id.ToString())
            {
                continue;
            }

            return root.TryGetProperty("error"u8, out var error) && error.TryGetProperty("code"u8, out var code)
                ? code.GetInt32() switch
                {
                    -32601 => StatusCodes.Status404NotFound,
                    -32602 or -32020 or -32021 or -32022 => StatusCodes.Status400BadRequest,
                    _ => StatusCodes.Status200OK,
                }
                : StatusCodes.Status200OK;
        }

        return StatusCodes.Status200OK;
    }

    private readonly record struct Refused(int Code, string Message, string? Requested = null);

    /// <summary>
    /// The ladder in the specified order: _meta fields (-32602), header against body (-32020), revision (-32022), Mcp-Method (-32020),
    /// a removed method (-32601), Mcp-Name (-32020), then a tool's Mcp-Param-* headers (-32020).
    /// </summary>
    private static Refused? Refusal(HttpRequest http, JsonRpcRequest request)
    {
        var meta = (request.Params as JsonObject)?["_meta"] as JsonObject;
        var bodyVersion = meta?["io.modelcontextprotocol/protocolVersion"] is JsonValue v && v.TryGetValue(out string? s) ? s : null;
        if (bodyVersion is null || meta!["io.modelcontextprotocol/clientCapabilities"] is not JsonObject)
        {
            return new(-32602, "Invalid params: _meta needs io.modelcontextprotocol/protocolVersion and io.modelcontextprotocol/clientCapabilities");
        }

        var version = http.Headers["MCP-Protocol-Version"].ToString().Trim();
        if (version != bodyVersion)
        {
            return new(-32020, $"Header mismatch: MCP-Protocol-Version '{version}' does not match _meta '{bodyVersion}'");
        }

        if (bodyVersion != Revision)
        {
            return new(-32022, $"Unsupported protocol version: {bodyVersion}", bodyVersion);
        }

        var method = http.Headers["Mcp-Method"].ToString().Trim();
        if (method != request.Method)
        {
            return new(-32020, $"Header mismatch: Mcp-Method '{method}' does not match method '{request.Method}'");
        }

        if (Array.IndexOf(RemovedMethods, request.Method) >= 0)
        {
            return new(-32601, $"Method not found: {request.Method} does not exist in MCP {Revision}");
        }

        var named =
            request.Method is "tools/call" or "prompts/get" ? "name"
            : request.Method == "resources/read" ? "uri"
            : null;
        if (named is null || (request.Params as JsonObject)?[named] is not JsonValue value || !value.TryGetValue(out string? bodyName))
        {
            return null;
        }

        var name = Decode(http.Headers["Mcp-Name"].ToString().Trim());
        if (name != bodyName)
        {
            return new(-32020, $"Header mismatch: Mcp-Name '{name}' does not match params.{named} '{bodyName}'");
        }

        return request.Method == "tools/call" ? ParamHeaderRefusal(http, bodyName, (request.Params as JsonObject)?["arguments"] as JsonObject) : null;
    }

    /// <summary>
    /// SEP-2243: each argument the tool's schema marks with <c>x-mcp-header</c> must arrive as <c>Mcp-Param-{Name}</c> too, and
    /// agree with the body (a null or absent argument needs no header; integers compare as numbers).
    /// </summary>
    private static Refused? ParamHeaderRefusal(HttpRequest http, string tool, JsonObject? arguments)
    {
        if (FixtureTools.InputSchemaOf(tool) is not { } schema || JsonNode.Parse(schema)?["properties"] is not JsonObject properties)
        {
            return null;
        }

        foreach (var (property, definition) in properties)
        {
            if (definition?["x-mcp-header"] is not JsonValue marked || !marked.TryGetValue(out string? suffix))
            {
                continue;
            }

            var text = arguments?[property] switch
            {
                JsonValue v when v.TryGetValue(out string? str) => str,
                JsonValue v when v.GetValueKind() is JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => v.ToJsonString(),
                _ => null,
            };
            if (text is null)
            {
                continue;
            }

            var header = "Mcp-Param-" + suffix;
            var values = http.Headers[header];
            if (values.Count != 1)
            {
                return new(-32020, $"Header mismatch: arguments.{property} is in the body but the {header} header is missing or repeated");
            }

            var decoded = Decode(values.ToString().Trim());
            if (decoded is null)
            {
                return new(-32020, $"Header mismatch: {header} is not valid =?base64?…?= Base64");
            }

            var agree =
                decoded == text
                || (
                    decimal.TryParse(decoded, NumberStyles.Float, CultureInfo.InvariantCulture, out var a)
                    && decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var b)
                    && a == b
                    && arguments![property]!.GetValueKind() == JsonValueKind.Number
                );
            if (!agree)
            {
                return new(-32020, $"Header mismatch: {header} '{decoded}' does not match arguments.{property} '{text}'");
            }
        }

        return null;
    }

    private static string? Decode(string header)
    {
        const string prefix = "=?base64?",
            suffix = "?=";
        if (
            !header.StartsWith(prefix, StringComparison.Ordinal)
            || !header.EndsWith(suffix, StringComparison.Ordinal)
            || header.Length < prefix.Length + suffix.Length
        )
        {
            return header;
        }

        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(header[prefix.Length..^suffix.Length]));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static async Task WriteErrorAsync(HttpContext context, RequestId id, Refused refused)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("jsonrpc"u8, "2.0"u8);
            writer.WritePropertyName("id"u8);
            JsonSerializer.Serialize(writer, id, ModelContextProtocol.McpJsonUtilities.DefaultOptions.GetTypeInfo(typeof(RequestId)));
            writer.WriteStartObject("error"u8);
            writer.WriteNumber("code"u8, refused.Code);
            writer.WriteString("message"u8, refused.Message);
            if (refused.Requested is not null)
            {
                writer.WriteStartObject("data"u8);
                writer.WriteStartArray("supported"u8);
                writer.WriteStringValue(Revision);
                writer.WriteEndArray();
                writer.WriteString("requested"u8, refused.Requested);
                writer.WriteEndObject();
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
        }

        context.Response.StatusCode = refused.Code == -32601 ? StatusCodes.Status404NotFound : StatusCodes.Status400BadRequest;
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(buffer.WrittenMemory, context.RequestAborted).ConfigureAwait(false);
    }
}
