using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Protocol;

namespace Archestra.Gateway.Mcp;

internal sealed partial class McpEndpoint
{
    /// <summary>
    /// Items per page of a merged list. 500 keeps a page of typical tool definitions (~1–2 KB each)
    /// under a megabyte while letting most profiles answer in one page.
    /// </summary>
    internal const int ListPageSize = 500;

    private static ReadOnlySpan<byte> CursorPrefix => "arc1."u8;

    // ---- initialize ----

    private async Task InitializeAsync(HttpContext context, GatewayProfile profile, byte[] body, JsonRpcEnvelope env, AcceptedTypes accepts)
    {
        var rawId = env.Id.Of(body).ToArray();
        string? requested = null;
        var caps = default(ClientCapabilities);
        if (!env.Params.IsEmpty)
        {
            try
            {
                using var doc = JsonDocument.Parse(body.AsMemory(env.Params.Start, env.Params.Length));
                var root = doc.RootElement;
                if (root.ValueKind == JsonValueKind.Object)
                {
                    if (root.TryGetProperty("protocolVersion"u8, out var v) && v.ValueKind == JsonValueKind.String)
                    {
                        requested = v.GetString();
                    }

                    if (root.TryGetProperty("capabilities"u8, out var c) && c.ValueKind == JsonValueKind.Object)
                    {
                        caps = new ClientCapabilities(
                            c.TryGetProperty("sampling"u8, out _),
                            c.TryGetProperty("elicitation"u8, out _),
                            c.TryGetProperty("roots"u8, out _)
                        );
                    }
                }
            }
            catch (JsonException)
            {
                requested = null;
            }
        }

        if (requested is null)
        {
            await WriteMessageAsync(
                    context,
                    JsonRpcWriter.Error(
                        rawId,
                        ErrorCodes.InvalidParams,
                        "Invalid params: initialize needs params.protocolVersion (a string) and params.capabilities."
                    ),
                    null,
                    accepts.PreferSse
                )
                .ConfigureAwait(false);
            return;
        }

        var version = McpRevisions.NegotiateLegacy(requested);
        var session = _gateway.Sessions.Create(profile, version, caps);
        if (session is null)
        {
            context.Response.Headers.RetryAfter = "5";
            await WriteHttpErrorAsync(
                    context,
                    StatusCodes.Status503ServiceUnavailable,
                    ErrorCodes.InternalError,
                    $"Too many sessions (limits.maxSessions = {_gateway.Config.Limits.MaxSessions}); retry later."
                )
                .ConfigureAwait(false);
            return;
        }

        _gateway.Metrics.SessionOpened();
        _gateway.Metrics.RecordRequest(profile.Name, "initialize", "ok");
        var result = JsonRpcWriter.Result(rawId, (profile, version), static (w, state) => WriteInitializeResult(w, state.profile, state.version));
        await WriteMessageAsync(context, result, session, accepts.PreferSse).ConfigureAwait(false);
    }

    private static void WriteInitializeResult(Utf8JsonWriter w, GatewayProfile profile, string version)
    {
        var (prompts, resources, subscribe, logging, completions, instructions) = ProfileCapabilities.Of(profile);
        w.WriteStartObject();
        w.WriteString("protocolVersion"u8, version);
        w.WriteStartObject("capabilities"u8);
        // Tools are always offered: the gateway itself announces list changes when an upstream reconnects.
        w.WriteStartObject("tools"u8);
        w.WriteBoolean("listChanged"u8, true);
        w.WriteEndObject();
        if (prompts)
        {
            w.WriteStartObject("prompts"u8);
            w.WriteBoolean("listChanged"u8, true);
            w.WriteEndObject();
        }

        if (resources)
        {
            w.WriteStartObject("resources"u8);
            w.WriteBoolean("subscribe"u8, subscribe);
            w.WriteBoolean("listChanged"u8, true);
            w.WriteEndObject();
        }

        if (logging)
        {
            w.WriteStartObject("logging"u8);
            w.WriteEndObject();
        }

        if (completions)
        {
            w.WriteStartObject("completions"u8);
            w.WriteEndObject();
        }

        w.WriteEndObject();
        w.WriteStartObject("serverInfo"u8);
        w.WriteString("name"u8, "archestra"u8);
        w.WriteString("title"u8, "Archestra MCP gateway"u8);
        w.WriteString("version"u8, GatewayInfo.Version);
        w.WriteEndObject();
        if (instructions is not null)
        {
            w.WriteString("instructions"u8, instructions);
        }

        w.WriteEndObject();
    }

    // ---- lists ----

    private async Task ListAsync(
        HttpContext context,
        GatewayProfile profile,
        McpSession? session,
        ListKind kind,
        byte[] body,
        JsonRpcEnvelope env,
        AcceptedTypes accepts
    )
    {
        var rawId = env.Id.Of(body).ToArray();
        if (!TryReadCursor(body, env.Params, out var offset))
        {
            await WriteMessageAsync(
                    context,
                    JsonRpcWriter.Error(rawId, ErrorCodes.InvalidParams, "Invalid params: unknown cursor; pass back nextCursor exactly as received."),
                    session,
                    accepts.PreferSse
                )
                .ConfigureAwait(false);
            return;
        }

        var servers = profile.Servers;
        var snapshots = new ListSnapshot?[servers.Length];
        Task<ListSnapshot?>[]? pending = null;
        for (var i = 0; i < servers.Length; i++)
        {
            var task = servers[i].GetListAsync(kind, _gateway.OnListFailed);
            if (task.IsCompletedSuccessfully)
            {
                snapshots[i] = task.Result;
            }
            else
            {
                pending ??= new Task<ListSnapshot?>[servers.Length];
                pending[i] = task;
            }
        }

        if (pending is not null)
        {
            for (var i = 0; i < pending.Length; i++)
            {
                if (pending[i] is { } task)
                {
                    snapshots[i] = await task.ConfigureAwait(false);
                }
            }
        }

        var (method, property, _) = UpstreamEntry.Describe(kind);
        var prefix = profile.Prefixed && kind is ListKind.Tools or ListKind.Prompts;

        var buffer = new ArrayBufferWriter<byte>(4096);
        buffer.Write("{\"jsonrpc\":\"2.0\",\"id\":"u8);
        buffer.Write(rawId);
        buffer.Write(",\"result\":{\""u8);
        Encoding.UTF8.GetBytes(property, buffer);
        buffer.Write("\":["u8);
        var page = new ListPage(buffer, offset, ListPageSize);
        var policies = kind == ListKind.Tools ? _gateway.Policies.ForProfile(profile.Name) : null;
        if (policies is not null && profile.Config.DynamicTools)
        {
            await RefreshSharedTrustAsync(session, policies, context.RequestAborted).ConfigureAwait(false);
        }

        var trusted = session?.Trust.IsTrusted ?? !accepts.Modern; // as the call would be judged (CallToolAsync)
        var builtins = policies is null ? BuiltinToolsMode.Off : profile.Config.BuiltinTools;
        for (var i = 0; i < servers.Length && !page.Full && builtins != BuiltinToolsMode.Only; i++)
        {
            if (snapshots[i] is not { } snapshot)
            {
                continue;
            }

            var visible = policies is null ? null : profile.VisibleTools(i, snapshot, policies, trusted);
            for (var j = 0; j < snapshot.Items.Length && !page.Full; j++)
            {
                var item = snapshot.Items[j];
                if (visible is null || visible[j])
                {
                    page.Add(prefix ? item.Prefixed(servers[i].NameUtf8) : item.Json);
                }
            }
        }

        if (builtins != BuiltinToolsMode.Off)
        {
            foreach (var definition in BuiltinTools.Definitions)
            {
                page.Add(definition);
            }
        }

        var (more, written) = (page.Full, page.Written);
        buffer.Write("]"u8);
        if (more)
        {
            buffer.Write(",\"nextCursor\":\""u8);
            buffer.Write(CursorPrefix);
            Span<byte> digits = stackalloc byte[12];
            System.Buffers.Text.Utf8Formatter.TryFormat(offset + written, digits, out var n);
            buffer.Write(digits[..n]);
            buffer.Write("\""u8);
        }

        if (accepts.Modern)
        {
            ModernResults.AppendListFields(buffer);
        }

        buffer.Write("}}"u8);
        _gateway.Metrics.RecordRequest(profile.Name, method, "ok");
        await WriteMessageAsync(context, buffer.WrittenMemory, session, accepts.PreferSse).ConfigureAwait(false);
    }

    private static bool TryReadCursor(byte[] body, Slice paramsSlice, out int offset)
    {
        offset = 0;
        var json = paramsSlice.Of(body);
        var cursor = JsonObjectScan.FindValue(json, "cursor"u8).Of(json);
        if (cursor.IsEmpty || cursor.SequenceEqual("null"u8))
        {
            return true;
        }

        // Our cursors are "arc1.<offset>": a quoted string with no escapes.
        if (cursor.Length < 2 || cursor[0] != (byte)'"' || cursor.IndexOf((byte)'\\') >= 0)
        {
            return false;
        }

        var value = cursor[1..^1];
        return value.StartsWith(CursorPrefix)
            && System.Buffers.Text.Utf8Parser.TryParse(value[CursorPrefix.Length..], out offset, out var consumed)
            && consumed == value.Length - CursorPrefix.Length
            && offset >= 0;
    }

    // ---- prompts/get ----

    private async Task GetPromptAsync(
        HttpContext context,
        GatewayProfile profile,
        McpSession? session,
        byte[] body,
        int length,
        JsonRpcEnvelope env,
        AcceptedTypes accepts
    )
    {
        var span = body.AsSpan(0, length);
        var rawId = env.Id.Of(span);
        if (
            env.ParamsName.Length < 2
            || span[env.ParamsName.Start] != (byte)'"'
            || span.Slice(env.ParamsName.Start, env.ParamsName.Length).IndexOf((byte)'\\') >= 0
        )
        {
            await WriteMessageAsync(
                    context,
                    JsonRpcWriter.Error(rawId, ErrorCodes.InvalidParams, "Invalid params: prompts/get needs params.name (a string)."),
                    session,
                    accepts.PreferSse
                )
                .ConfigureAwait(false);
            return;
        }

        var nameSlice = new Slice(env.ParamsName.Start + 1, env.ParamsName.Length - 2);
        var server = profile.Route(nameSlice.Of(span), out var offset);
        if (server is null)
        {
            await WriteMessageAsync(
                    context,
                    JsonRpcWriter.Error(rawId, ErrorCodes.InvalidParams, UnknownName("prompt", Encoding.UTF8.GetString(nameSlice.Of(span)), profile)),
                    session,
                    accepts.PreferSse
                )
                .ConfigureAwait(false);
            return;
        }

        var removeFromName = new Slice(nameSlice.Start, offset);
        string outcome;
        if (accepts.Modern && server.Upstream.Era == McpEra.Legacy)
        {
            outcome = await GetHeldPromptAsync(context, profile, server, body, length, env, removeFromName, accepts).ConfigureAwait(false);
        }
        else
        {
            outcome = await ForwardAsync(context, session, server, body, length, env, removeFromName, accepts, idempotent: true).ConfigureAwait(false);
        }

        _gateway.Metrics.RecordRequest(profile.Name, "prompts/get", outcome);
    }

    /// <summary>
    /// A modern client's prompts/get to a 2025 server, held across rounds like a tool call when the server asks the client for
    /// input while rendering (2026-07-28 basic/patterns/mrtr). Its state is sealed for the prompt's name, which cannot pass for a
    /// tool's (the name is set apart by NUL bytes, which no name the gateway routes contains), and for its arguments.
    /// </summary>
    private async Task<string> GetHeldPromptAsync(
        HttpContext context,
        GatewayProfile profile,
        UpstreamEntry server,
        byte[] body,
        int length,
        JsonRpcEnvelope env,
        Slice removeFromName,
        AcceptedTypes accepts
    )
    {
        var span = body.AsSpan(0, length);
        var prompt = Encoding.UTF8.GetString(span.Slice(removeFromName.Start + removeFromName.Length, env.ParamsName.Length - 2 - removeFromName.Length));
        var sealedFor = "\0prompt\0" + McpProtocol.Qualify(server.Name, prompt);
        if (JsonObjectScan.GetString(env.Params.Of(span), "requestState"u8) is { } presented)
        {
            // Only the gateway issues states for a 2025 server: anything else is refused, never forwarded as if the request were new.
            if (!SessionIds.LooksLikeContinuation(presented))
            {
                await WriteMessageAsync(context, JsonRpcWriter.Error(env.Id.Of(span), ErrorCodes.InvalidParams, InvalidRequestState), null, accepts.PreferSse)
                    .ConfigureAwait(false);
                return "invalid";
            }

            var continued = ContinueAsync(context, profile, server, body, length, env, accepts, ("_prompt", sealedFor), presented, isTool: false);
            await continued.ConfigureAwait(false);
            return continued is Task<string> forwarded ? forwarded.Result : "invalid";
        }

        var labels = new ToolCallLabels(profile.Name, server.Name, "_prompt", sealedFor, _gateway.Policies.ForProfile(profile.Name));
        var round = StartRound(server, labels, Stopwatch.GetTimestamp(), span, env, removeFromName, isTool: false);
        return await ForwardAsync(context, null, server, body, length, env, removeFromName, accepts, idempotent: false, resume: round).ConfigureAwait(false);
    }

    // ---- resources ----

    private async Task ResourceRequestAsync(
        HttpContext context,
        GatewayProfile profile,
        McpSession? session,
        byte[] body,
        int length,
        JsonRpcEnvelope env,
        AcceptedTypes accepts
    )
    {
        var rawId = env.Id.Of(body).ToArray();
        var isSubscribe = env.MethodIs(body, McpMethods.ResourcesSubscribe);
        var isUnsubscribe = env.MethodIs(body, McpMethods.ResourcesUnsubscribe);
        var uri = JsonObjectScan.ReadString(body, env.ParamsUri);
        if (uri is null)
        {
            await WriteMessageAsync(
                    context,
                    JsonRpcWriter.Error(rawId, ErrorCodes.InvalidParams, "Invalid params: params.uri (a string) is required."),
                    session,
                    accepts.PreferSse
                )
                .ConfigureAwait(false);
            return;
        }

        var server = await RouteUriAsync(profile, uri).ConfigureAwait(false);
        if (server is null)
        {
            // -32002 is MCP's "Resource not found" up to 2025-11-25 (spec: server/resources, Error Handling); 2026-07-28 uses
            // -32602 with the uri in data (SEP-2164).
            var message = $"Resource not found: no MCP server in profile '{profile.Name}' lists '{uri}'.";
            var notFound = accepts.Modern ? ResourceNotFound(rawId, message, uri) : JsonRpcWriter.Error(rawId, -32002, message);
            await WriteMessageAsync(context, notFound, session, accepts.PreferSse).ConfigureAwait(false);
            return;
        }

        var method = "resources/read";
        if (isSubscribe)
        {
            method = "resources/subscribe";
            session?.Subscriptions.TryAdd(uri, server);
        }
        else if (isUnsubscribe)
        {
            method = "resources/unsubscribe";
            if (session is not null)
            {
                session.Subscriptions.TryRemove(uri, out _);
                if (_gateway.AnySubscriber(uri, server, except: session))
                {
                    // Another session still wants updates for this URI on the shared upstream connection.
                    await WriteMessageAsync(context, JsonRpcWriter.EmptyResult(rawId), session, accepts.PreferSse).ConfigureAwait(false);
                    return;
                }
            }
        }

        if (method != "resources/read" && server.Upstream.Era == McpEra.Modern)
        {
            // A modern server has no resources/(un)subscribe: the gateway's own listen on it carries the URI.
            await _gateway.SubscribeUpstreamAsync(server, uri, isSubscribe || _gateway.AnySubscriber(uri, server, except: null)).ConfigureAwait(false);
            await WriteMessageAsync(context, JsonRpcWriter.EmptyResult(rawId), session, accepts.PreferSse).ConfigureAwait(false);
            _gateway.Metrics.RecordRequest(profile.Name, method, "ok");
            return;
        }

        var outcome = await ForwardAsync(context, session, server, body, length, env, default, accepts, idempotent: method == "resources/read")
            .ConfigureAwait(false);
        _gateway.Metrics.RecordRequest(profile.Name, method, outcome);
    }

    /// <summary>The server owning a resource URI: the one that lists it, else the one whose template's literal prefix matches.</summary>
    private async Task<UpstreamEntry?> RouteUriAsync(GatewayProfile profile, string uri)
    {
        if (profile.Servers.Length == 1)
        {
            return profile.Servers[0];
        }

        foreach (var server in profile.Servers)
        {
            if (
                server.Capabilities.Resources
                && await server.GetListAsync(ListKind.Resources, _gateway.OnListFailed).ConfigureAwait(false) is { } list
                && list.Index.ContainsKey(uri)
            )
            {
                return server;
            }
        }

        UpstreamEntry? best = null;
        var bestLength = -1;
        foreach (var server in profile.Servers)
        {
            if (
                !server.Capabilities.Resources
                || await server.GetListAsync(ListKind.ResourceTemplates, _gateway.OnListFailed).ConfigureAwait(false) is not { } templates
            )
            {
                continue;
            }

            foreach (var template in templates.Items)
            {
                var brace = template.Key.IndexOf('{');
                var literal = brace < 0 ? template.Key : template.Key[..brace];
                if (literal.Length > bestLength && uri.StartsWith(literal, StringComparison.Ordinal))
                {
                    best = server;
                    bestLength = literal.Length;
                }
            }
        }

        return best;
    }

    // ---- completion/complete ----

    private async Task CompleteAsync(
        HttpContext context,
        GatewayProfile profile,
        McpSession? session,
        byte[] body,
        int length,
        JsonRpcEnvelope env,
        AcceptedTypes accepts
    )
    {
        var rawId = env.Id.Of(body).ToArray();
        var (type, name, uri) = FindCompletionRef(body, env.Params);
        UpstreamEntry? server = null;
        var remove = default(Slice);
        if (type == "ref/prompt" && name.Length >= 2)
        {
            var nameSlice = new Slice(name.Start + 1, name.Length - 2);
            server = profile.Route(nameSlice.Of(body), out var offset);
            remove = new Slice(nameSlice.Start, offset);
        }
        else if (type == "ref/resource" && JsonObjectScan.ReadString(body, uri) is { } uriText)
        {
            server = await RouteUriAsync(profile, uriText).ConfigureAwait(false);
        }
        else
        {
            await WriteMessageAsync(
                    context,
                    JsonRpcWriter.Error(
                        rawId,
                        ErrorCodes.InvalidParams,
                        "Invalid params: completion/complete needs params.ref of type ref/prompt (with name) or ref/resource (with uri)."
                    ),
                    session,
                    accepts.PreferSse
                )
                .ConfigureAwait(false);
            return;
        }

        if (server is null)
        {
            await WriteMessageAsync(
                    context,
                    JsonRpcWriter.Error(
                        rawId,
                        ErrorCodes.InvalidParams,
                        $"Invalid params: no MCP server in profile '{profile.Name}' owns that {(type == "ref/prompt" ? "prompt" : "resource")}."
                    ),
                    session,
                    accepts.PreferSse
                )
                .ConfigureAwait(false);
            return;
        }

        var outcome = await ForwardAsync(context, session, server, body, length, env, remove, accepts, idempotent: true).ConfigureAwait(false);
        _gateway.Metrics.RecordRequest(profile.Name, "completion/complete", outcome);
    }

    private static (string? Type, Slice Name, Slice Uri) FindCompletionRef(ReadOnlySpan<byte> span, Slice paramsSlice)
    {
        if (paramsSlice.IsEmpty)
        {
            return (null, default, default);
        }

        var reader = new Utf8JsonReader(paramsSlice.Of(span));
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return (null, default, default);
        }

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (!reader.ValueTextEquals("ref"u8))
            {
                reader.Read();
                reader.Skip();
                continue;
            }

            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                return (null, default, default);
            }

            string? type = null;
            Slice name = default,
                uri = default;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("type"u8))
                {
                    reader.Read();
                    type = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }
                else if (reader.ValueTextEquals("name"u8) || reader.ValueTextEquals("uri"u8))
                {
                    var isName = reader.ValueTextEquals("name"u8);
                    reader.Read();
                    if (reader.TokenType == JsonTokenType.String && !reader.ValueIsEscaped)
                    {
                        var start = paramsSlice.Start + (int)reader.TokenStartIndex;
                        var slice = new Slice(start, reader.ValueSpan.Length + 2);
                        if (isName)
                        {
                            name = slice;
                        }
                        else
                        {
                            uri = slice;
                        }
                    }
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }

            return (type, name, uri);
        }

        return (null, default, default);
    }

    // ---- logging/setLevel ----

    private async Task SetLogLevelAsync(
        HttpContext context,
        GatewayProfile profile,
        McpSession? session,
        byte[] body,
        JsonRpcEnvelope env,
        AcceptedTypes accepts
    )
    {
        var span = body;
        var rawId = env.Id.Of(span).ToArray();
        var levelText = ReadLevel(span, env.Params);
        var level = levelText is null ? null : LogFilter.Parse(Encoding.UTF8.GetBytes(levelText));
        if (level is null)
        {
            await WriteMessageAsync(
                    context,
                    JsonRpcWriter.Error(
                        rawId,
                        ErrorCodes.InvalidParams,
                        "Invalid params: params.level must be one of debug, info, notice, warning, error, critical, alert, emergency."
                    ),
                    session,
                    accepts.PreferSse
                )
                .ConfigureAwait(false);
            return;
        }

        if (session is not null)
        {
            session.LogLevel = level.Value;
            session.LogLevelSet = true;
        }

        // Upstream connections are shared, so the upstream gets the level and each session is filtered here.
        var calls = new List<Task>();
        foreach (var server in profile.Servers)
        {
            if (server.IsReady && server.Capabilities.Logging)
            {
                var id = server.Upstream.NextId();
                var request = BuildSetLevel(id, levelText!);
                calls.Add(server.Upstream.CallAsync(request, id, idempotent: true, observer: null, context.RequestAborted).AsTask());
            }
        }

        await Task.WhenAll(calls).ConfigureAwait(false);
        _gateway.Metrics.RecordRequest(profile.Name, "logging/setLevel", "ok");
        await WriteMessageAsync(context, JsonRpcWriter.EmptyResult(rawId), session, accepts.PreferSse).ConfigureAwait(false);
    }

    private static string? ReadLevel(ReadOnlySpan<byte> span, Slice paramsSlice) => JsonObjectScan.GetString(paramsSlice.Of(span), "level"u8);

    private static byte[] BuildSetLevel(long id, string level) => JsonRpcWriter.Request(id, "logging/setLevel", "level", level);
}
