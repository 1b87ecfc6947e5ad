using System.Text;
using System.Text.Json;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Protocol;
using Archestra.Runtime.Upstreams;

namespace Archestra.Gateway.Mcp;

/// <summary>
/// MCP 2026-07-28 on the same endpoint: a request is modern when its MCP-Protocol-Version header names a modern
/// revision, or when it carries the per-request <c>_meta</c> envelope and no legacy header (2026-07-28
/// basic/versioning, "A dual-era server selects its behavior from how the client opens"). Modern requests are
/// served statelessly: no session is looked up or minted, GET and DELETE answer 405, and the validation ladder
/// of the Streamable HTTP transport ("Server Validation") runs before anything is routed.
/// </summary>
internal sealed partial class McpEndpoint
{
    /// <summary>Classifies one POST. Legacy headers are checked first, so a 2025 request costs one string comparison.</summary>
    internal static bool IsModern(HttpRequest request, ReadOnlySpan<byte> body, in JsonRpcEnvelope env)
    {
        var header = request.Headers[McpHeaders.ProtocolVersion];
        if (header.Count > 0)
        {
            var value = header.ToString().AsSpan().Trim();
            foreach (var legacy in McpRevisions.Legacy)
            {
                if (value.SequenceEqual(legacy))
                {
                    return false;
                }
            }

            // A modern revision, or an unknown one sent with the envelope (answered -32022 with the supported list).
            return McpRevisions.IsModern(value) || !env.MetaProtocolVersion.IsEmpty;
        }

        return !env.MetaProtocolVersion.IsEmpty || (env.IsRequest && env.MethodIs(body, McpMethods.ServerDiscover));
    }

    /// <summary>GET and DELETE with a modern revision header: the modern transport has neither (answered 405).</summary>
    internal static bool HasModernHeader(HttpRequest request) =>
        request.Headers[McpHeaders.ProtocolVersion] is { Count: 1 } h && McpRevisions.IsModern(h.ToString().AsSpan().Trim());

    private Task DispatchModernAsync(HttpContext context, GatewayProfile profile, byte[] body, int length, JsonRpcEnvelope env, AcceptedTypes accepts)
    {
        var span = body.AsSpan(0, length);
        if (env.IsResponse)
        {
            return WriteHttpErrorAsync(
                context,
                StatusCodes.Status400BadRequest,
                ErrorCodes.InvalidRequest,
                "Invalid Request: a 2026-07-28 client sends no JSON-RPC responses; answers to input requests go in inputResponses of the retried request."
            );
        }

        if (env.Kind == JsonRpcKind.Notification)
        {
            // Cancellation is closing the response stream; nothing a modern client notifies needs an action here.
            context.Response.StatusCode = StatusCodes.Status202Accepted;
            return Task.CompletedTask;
        }

        var rawId = env.Id.Of(span);
        if (ModernValidation.Check(context.Request, span, env) is { } failure)
        {
            _gateway.Metrics.RecordRequest(profile.Name, "other", "invalid");
            return WriteModernErrorAsync(context, failure.Status, ModernValidation.Error(rawId, failure));
        }

        var modern = accepts with { Modern = true, ModernLogLevel = ModernValidation.LogLevel(span, env) };
        if (env.MethodIs(span, McpMethods.ToolsCall))
        {
            return CallToolAsync(context, profile, null, body, length, env, modern);
        }

        if (env.MethodIs(span, McpMethods.ServerDiscover))
        {
            _gateway.Metrics.RecordRequest(profile.Name, "server/discover", "ok");
            return WriteMessageAsync(context, DiscoverResult(rawId, profile), null, modern.PreferSse);
        }

        if (env.MethodIs(span, McpMethods.ToolsList))
        {
            return ListAsync(context, profile, null, ListKind.Tools, body, env, modern);
        }

        if (env.MethodIs(span, McpMethods.SubscriptionsListen))
        {
            return ListenAsync(context, profile, body, env);
        }

        if (env.MethodIs(span, McpMethods.PromptsList))
        {
            return ListAsync(context, profile, null, ListKind.Prompts, body, env, modern);
        }

        if (env.MethodIs(span, McpMethods.ResourcesList))
        {
            return ListAsync(context, profile, null, ListKind.Resources, body, env, modern);
        }

        if (env.MethodIs(span, McpMethods.ResourceTemplatesList))
        {
            return ListAsync(context, profile, null, ListKind.ResourceTemplates, body, env, modern);
        }

        if (env.MethodIs(span, McpMethods.PromptsGet))
        {
            return GetPromptAsync(context, profile, null, body, length, env, modern);
        }

        if (env.MethodIs(span, McpMethods.ResourcesRead))
        {
            return ResourceRequestAsync(context, profile, null, body, length, env, modern);
        }

        if (env.MethodIs(span, McpMethods.CompletionComplete))
        {
            return CompleteAsync(context, profile, null, body, length, env, modern);
        }

        // ping, initialize, logging/setLevel and resources/(un)subscribe were removed in 2026-07-28; the transport
        // answers an unimplemented method with 404 and -32601 ("Protocol Version Header").
        var name = Encoding.UTF8.GetString(env.Method.Of(span));
        _gateway.Metrics.RecordRequest(profile.Name, "other", "method_not_found");
        var removed = IsRemovedMethod(span, env) ? " (removed in MCP 2026-07-28)" : "";
        return WriteModernErrorAsync(
            context,
            StatusCodes.Status404NotFound,
            JsonRpcWriter.Error(rawId, ErrorCodes.MethodNotFound, $"Method not found: {name}{removed}")
        );
    }

    private static bool IsRemovedMethod(ReadOnlySpan<byte> span, in JsonRpcEnvelope env) =>
        env.MethodIs(span, McpMethods.Initialize)
        || env.MethodIs(span, McpMethods.Ping)
        || env.MethodIs(span, McpMethods.LoggingSetLevel)
        || env.MethodIs(span, McpMethods.ResourcesSubscribe)
        || env.MethodIs(span, McpMethods.ResourcesUnsubscribe);

    /// <summary>The one edit a forwarded answer needs for a modern client: resultType (and cache hints) in, or -32002 out.</summary>
    private static JsonRpcRewriter.Edit ModernEdit(UpstreamMessage response, bool cacheable)
    {
        if (response.Kind == JsonRpcKind.ErrorResponse)
        {
            var code = ModernResults.LegacyNotFoundCode(response.Span, response.Envelope.Error);
            return code.IsEmpty ? default : new JsonRpcRewriter.Edit(code, ModernResults.InvalidParamsCode);
        }

        var insert = ModernResults.Insertion(response.Span, response.Envelope.Result, cacheable);
        return insert.IsEmpty ? default : new JsonRpcRewriter.Edit(new Slice(response.Envelope.Result.Start + 1, 0), insert);
    }

    /// <summary>
    /// With a legacy not-found rewritten to -32602, the requested uri as <c>data.uri</c> when the error has no data
    /// (SEP-2164): <c>,"data":{"uri":…}</c> before the error object's closing brace. Empty otherwise.
    /// </summary>
    private static (Slice At, byte[]? Text) NotFoundData(UpstreamMessage response, ReadOnlySpan<byte> request, in JsonRpcEnvelope env)
    {
        var error = response.Envelope.Error;
        if (
            response.Kind != JsonRpcKind.ErrorResponse
            || env.ParamsUri.IsEmpty
            || ModernResults.LegacyNotFoundCode(response.Span, error).IsEmpty
            || !JsonObjectScan.FindValue(error.Of(response.Span), "data"u8).IsEmpty
        )
        {
            return default;
        }

        var uri = env.ParamsUri.Of(request);
        var prefix = ",\"data\":{\"uri\":"u8;
        var text = new byte[prefix.Length + uri.Length + 1];
        prefix.CopyTo(text);
        uri.CopyTo(text.AsSpan(prefix.Length));
        text[^1] = (byte)'}';
        return (new Slice(error.End - 1, 0), text);
    }

    private static Task WriteModernErrorAsync(HttpContext context, int status, byte[] error)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json";
        response.ContentLength = error.Length;
        return response.Body.WriteAsync(error).AsTask();
    }

    /// <summary>server/discover (2026-07-28 server/discover): the profile's merged capabilities, as initialize offers them to 2025 clients.</summary>
    private static byte[] DiscoverResult(ReadOnlySpan<byte> rawId, GatewayProfile profile) => JsonRpcWriter.Result(rawId, profile, static (w, profile) =>
        {
            var caps = ProfileCapabilities.Of(profile);
            w.WriteStartObject();
            w.WriteString("resultType"u8, "complete"u8);
            w.WriteStartArray("supportedVersions"u8);
            foreach (var version in McpRevisions.All)
            {
                w.WriteStringValue(version);
            }

            w.WriteEndArray();
            w.WriteStartObject("capabilities"u8);

            // List changes and resource updates reach modern clients through subscriptions/listen.
            w.WriteStartObject("tools"u8);
            w.WriteBoolean("listChanged"u8, true);
            w.WriteEndObject();
            if (caps.Prompts)
            {
                w.WriteStartObject("prompts"u8);
                w.WriteBoolean("listChanged"u8, true);
                w.WriteEndObject();
            }

            if (caps.Resources)
            {
                w.WriteStartObject("resources"u8);
                w.WriteBoolean("listChanged"u8, true);
                if (caps.Subscribe)
                {
                    // Resource updates reach subscriptions/listen streams that name the URI in resourceSubscriptions.
                    w.WriteBoolean("subscribe"u8, true);
                }

                w.WriteEndObject();
            }

            if (caps.Logging)
            {
                w.WriteStartObject("logging"u8);
                w.WriteEndObject();
            }

            if (caps.Completions)
            {
                w.WriteStartObject("completions"u8);
                w.WriteEndObject();
            }

            w.WriteEndObject();
            WriteServerInfoMeta(w);
            if (caps.Instructions is { } instructions)
            {
                w.WriteString("instructions"u8, instructions);
            }

            ModernResults.WriteCacheHints(w);
            w.WriteEndObject();
        });

    private static void WriteServerInfoMeta(Utf8JsonWriter w)
    {
        w.WriteStartObject("_meta"u8);
        w.WriteStartObject(McpMeta.ServerInfo);
        w.WriteString("name"u8, "archestra"u8);
        w.WriteString("title"u8, "Archestra MCP gateway"u8);
        w.WriteString("version"u8, GatewayInfo.Version);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>SEP-2164: resource not found is -32602 with the requested uri in data.</summary>
    private static byte[] ResourceNotFound(ReadOnlySpan<byte> rawId, string message, string uri)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("jsonrpc"u8, "2.0"u8);
            w.WritePropertyName("id"u8);
            w.WriteRawValue(rawId, skipInputValidation: true);
            w.WriteStartObject("error"u8);
            w.WriteNumber("code"u8, ErrorCodes.InvalidParams);
            w.WriteString("message"u8, message);
            w.WriteStartObject("data"u8);
            w.WriteString("uri"u8, uri);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
