using System.Diagnostics;
using System.Text;
using Archestra.Gateway.Http;
using Archestra.Gateway.Security;
using Archestra.Policy;
using Archestra.Runtime.Buffers;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Protocol;
using Archestra.Runtime.Upstreams;

namespace Archestra.Gateway.Mcp;

/// <summary>
/// The Streamable HTTP endpoint <c>/v1/mcp/{profile}</c> (MCP 2025-03-26 … 2025-11-25, "Transports").
/// POST carries one JSON-RPC message; GET opens the session's server-to-client stream; DELETE ends
/// the session. Requests without a session id are served statelessly.
/// </summary>
internal sealed partial class McpEndpoint
{
    private readonly McpGateway _gateway;
    private readonly RequestGuard _guard;

    // Cached: a method group converted at each call site allocated a delegate per tools/call.
    private readonly Action<UpstreamEntry, UpstreamMessage, string> _rejectServerRequest;
    private readonly Action<InputRoundCall> _roundAbandoned;

    public McpEndpoint(McpGateway gateway, RequestGuard guard)
    {
        _gateway = gateway;
        _guard = guard;
        _rejectServerRequest = gateway.RejectServerRequest;
        _roundAbandoned = OnRoundAbandoned;
    }

    public Task HandleAsync(HttpContext context)
    {
        var profileName = context.Request.RouteValues["profile"] as string;
        if (profileName is null || !_gateway.Profiles.TryGetValue(profileName, out var profile))
        {
            return WriteHttpErrorAsync(
                context,
                StatusCodes.Status404NotFound,
                ErrorCodes.InvalidRequest,
                $"Unknown profile '{profileName}'. Configured profiles: {string.Join(", ", _gateway.Profiles.Keys)}"
            );
        }

        var verdict = _guard.Check(context, profile);
        if (verdict != GuardVerdict.Allowed)
        {
            return verdict is GuardVerdict.ForbiddenOrigin or GuardVerdict.ForbiddenHost
                ? WriteHttpErrorAsync(context, StatusCodes.Status403Forbidden, ErrorCodes.InvalidRequest, RequestGuard.Refusal(context, verdict))
                : WriteHttpErrorAsync(context, StatusCodes.Status401Unauthorized, ErrorCodes.InvalidRequest, RequestGuard.Challenge(context, profile));
        }

        var method = context.Request.Method;
        if (HttpMethods.IsPost(method))
        {
            return PostAsync(context, profile);
        }

        if (HasModernHeader(context.Request))
        {
            // 2026-07-28 has no GET stream and no session to DELETE; Mcp-Session-Id and Last-Event-ID are ignored.
            context.Response.Headers.Allow = "POST";
            return WriteHttpErrorAsync(
                context,
                StatusCodes.Status405MethodNotAllowed,
                ErrorCodes.InvalidRequest,
                $"Method {method} is not allowed for MCP 2026-07-28: every request is a POST (use subscriptions/listen for change notifications)."
            );
        }

        if (HttpMethods.IsGet(method))
        {
            return GetStreamAsync(context, profile);
        }

        if (HttpMethods.IsDelete(method))
        {
            return DeleteAsync(context, profile);
        }

        context.Response.Headers.Allow = "GET, POST, DELETE";
        return WriteHttpErrorAsync(
            context,
            StatusCodes.Status405MethodNotAllowed,
            ErrorCodes.InvalidRequest,
            $"Method {method} is not allowed; use POST, GET or DELETE."
        );
    }

    // ---- POST ----

    private async Task PostAsync(HttpContext context, GatewayProfile profile)
    {
        var request = context.Request;
        if (!IsJsonContentType(request.ContentType))
        {
            await WriteHttpErrorAsync(context, StatusCodes.Status415UnsupportedMediaType, ErrorCodes.InvalidRequest, "Content-Type must be application/json.")
                .ConfigureAwait(false);
            return;
        }

        if (AgentCorrelation.Check(request) is { } badCorrelation)
        {
            await WriteHttpErrorAsync(context, StatusCodes.Status400BadRequest, ErrorCodes.InvalidRequest, badCorrelation).ConfigureAwait(false);
            return;
        }

        var accepts = AcceptedTypes.Of(request);
        if (!accepts.Json && !accepts.Sse)
        {
            await WriteHttpErrorAsync(
                    context,
                    StatusCodes.Status406NotAcceptable,
                    ErrorCodes.InvalidRequest,
                    "Accept must include application/json or text/event-stream (MCP clients send both)."
                )
                .ConfigureAwait(false);
            return;
        }

        var limit = _gateway.Config.Limits.MaxRequestBodyBytes;
        byte[]? body;
        int length;
        bool tooLarge;
        try
        {
            (body, length, tooLarge) = await RequestBody
                .ReadAsync(request.BodyReader, request.ContentLength, limit, context.RequestAborted)
                .ConfigureAwait(false);
        }
        catch (BadHttpRequestException ex)
        {
            // A broken chunked encoding or a body cut short cannot be parsed (-32700); one that trickled under the
            // minimum rate never arrived (-32600). Without this the request ended as 200 with an empty body.
            if (RequestBodyFailure.Describe(context, ex, "limits.maxRequestBodyBytes") is { } failure)
            {
                var code = failure.Status == StatusCodes.Status400BadRequest ? ErrorCodes.ParseError : ErrorCodes.InvalidRequest;
                await WriteHttpErrorAsync(context, failure.Status, code, failure.Message).ConfigureAwait(false);
            }

            return;
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // The client went away: nobody to answer.
            return;
        }

        if (tooLarge)
        {
            await WriteHttpErrorAsync(
                    context,
                    StatusCodes.Status413PayloadTooLarge,
                    ErrorCodes.InvalidRequest,
                    $"Request body exceeds the limit of {limit} bytes (limits.maxRequestBodyBytes)."
                )
                .ConfigureAwait(false);
            return;
        }

        try
        {
            await (
                McpTelemetry.Enabled ? DispatchTracedAsync(context, profile, body!, length, accepts) : DispatchAsync(context, profile, body!, length, accepts)
            ).ConfigureAwait(false);
        }
        finally
        {
            BytePool.Return(body!);
        }
    }

    private Task DispatchAsync(HttpContext context, GatewayProfile profile, byte[] body, int length, AcceptedTypes accepts)
    {
        var span = body.AsSpan(0, length);
        var parse = JsonRpcEnvelope.TryParse(span, out var env);
        switch (parse)
        {
            case JsonRpcParseError.None:
                break;
            case JsonRpcParseError.Batch:
                return WriteHttpErrorAsync(
                    context,
                    StatusCodes.Status400BadRequest,
                    ErrorCodes.InvalidRequest,
                    "JSON-RPC batches are not supported (removed from MCP in 2025-06-18); send one message per request."
                );
            case JsonRpcParseError.InvalidMessage:
                return WriteHttpErrorAsync(
                    context,
                    StatusCodes.Status400BadRequest,
                    ErrorCodes.InvalidRequest,
                    "Invalid Request: expected one JSON-RPC 2.0 message with \"jsonrpc\":\"2.0\" and a string \"method\" (or a response "
                        + "with \"id\" and \"result\" or \"error\")."
                );
            case JsonRpcParseError.Ambiguous:
                return WriteHttpErrorAsync(
                    context,
                    StatusCodes.Status400BadRequest,
                    ErrorCodes.ParseError,
                    $"Parse error: {StrictJson.Describe(span, StrictJson.Check(span))}."
                );
            default:
                return WriteHttpErrorAsync(context, StatusCodes.Status400BadRequest, ErrorCodes.ParseError, "Parse error: the body is not valid JSON.");
        }

        if (IsModern(context.Request, span, env))
        {
            return DispatchModernAsync(context, profile, body, length, env, accepts);
        }

        if (env.IsRequest && env.MethodIs(span, McpMethods.Initialize))
        {
            return InitializeAsync(context, profile, body, env, accepts);
        }

        // No session header: a stateless request.
        var session = FindSession(context, profile, out var stateless);
        if (session is null && !stateless)
        {
            return WriteHttpErrorAsync(
                context,
                StatusCodes.Status404NotFound,
                ErrorCodes.InvalidRequest,
                "Session not found or expired; send initialize to start a new session."
            );
        }

        if (!CheckProtocolVersionHeader(context, out var badVersion))
        {
            return WriteHttpErrorAsync(
                context,
                StatusCodes.Status400BadRequest,
                ErrorCodes.InvalidRequest,
                $"Unsupported MCP-Protocol-Version '{badVersion}'. Supported: {string.Join(", ", McpRevisions.Legacy)}."
            );
        }

        switch (env.Kind)
        {
            case JsonRpcKind.Notification:
                HandleClientNotification(session, profile, span, env);
                context.Response.StatusCode = StatusCodes.Status202Accepted;
                return Task.CompletedTask;
            case JsonRpcKind.Response:
            case JsonRpcKind.ErrorResponse:
                return HandleClientResponseAsync(context, session, body, length, env);
        }

        return HandleRequestAsync(context, profile, session, body, length, env, accepts);
    }

    private Task HandleRequestAsync(
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
        if (env.MethodIs(span, McpMethods.ToolsCall))
        {
            return CallToolAsync(context, profile, session, body, length, env, accepts);
        }
        else if (env.MethodIs(span, McpMethods.ToolsList))
        {
            return ListAsync(context, profile, session, ListKind.Tools, body, env, accepts);
        }
        else if (env.MethodIs(span, McpMethods.Ping))
        {
            return WriteMessageAsync(context, JsonRpcWriter.EmptyResult(rawId), session, accepts.PreferSse);
        }
        else if (env.MethodIs(span, McpMethods.PromptsList))
        {
            return ListAsync(context, profile, session, ListKind.Prompts, body, env, accepts);
        }
        else if (env.MethodIs(span, McpMethods.ResourcesList))
        {
            return ListAsync(context, profile, session, ListKind.Resources, body, env, accepts);
        }
        else if (env.MethodIs(span, McpMethods.ResourceTemplatesList))
        {
            return ListAsync(context, profile, session, ListKind.ResourceTemplates, body, env, accepts);
        }
        else if (env.MethodIs(span, McpMethods.PromptsGet))
        {
            return GetPromptAsync(context, profile, session, body, length, env, accepts);
        }
        else if (
            env.MethodIs(span, McpMethods.ResourcesRead)
            || env.MethodIs(span, McpMethods.ResourcesSubscribe)
            || env.MethodIs(span, McpMethods.ResourcesUnsubscribe)
        )
        {
            return ResourceRequestAsync(context, profile, session, body, length, env, accepts);
        }
        else if (env.MethodIs(span, McpMethods.CompletionComplete))
        {
            return CompleteAsync(context, profile, session, body, length, env, accepts);
        }
        else if (env.MethodIs(span, McpMethods.LoggingSetLevel))
        {
            return SetLogLevelAsync(context, profile, session, body, env, accepts);
        }
        else
        {
            var name = Encoding.UTF8.GetString(env.Method.Of(span));
            _gateway.Metrics.RecordRequest(profile.Name, "other", "method_not_found");
            return WriteMessageAsync(context, JsonRpcWriter.Error(rawId, ErrorCodes.MethodNotFound, $"Method not found: {name}"), session, accepts.PreferSse);
        }
    }

    // ---- tools/call: the hot path ----

    private Task CallToolAsync(
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
        if (env.ParamsName.Length < 2 || span[env.ParamsName.Start] != (byte)'"')
        {
            return WriteMessageAsync(
                context,
                JsonRpcWriter.Error(rawId, ErrorCodes.InvalidParams, "Invalid params: tools/call needs params.name (a string)."),
                session,
                accepts.PreferSse
            );
        }

        if (!env.Arguments.IsEmpty && span[env.Arguments.Start] != (byte)'{')
        {
            return WriteMessageAsync(
                context,
                JsonRpcWriter.Error(rawId, ErrorCodes.InvalidParams, "Invalid params: params.arguments must be an object."),
                session,
                accepts.PreferSse
            );
        }

        // The name without quotes; an escaped name (\uXXXX) is rare and is rejected rather than unescaped on the hot path.
        var nameSlice = new Slice(env.ParamsName.Start + 1, env.ParamsName.Length - 2);
        var name = nameSlice.Of(span);
        if (name.IndexOf((byte)'\\') >= 0)
        {
            return WriteMessageAsync(
                context,
                JsonRpcWriter.Error(rawId, ErrorCodes.InvalidParams, "Invalid params: tool names with JSON escapes are not supported."),
                session,
                accepts.PreferSse
            );
        }

        if (BuiltinTools.IsBuiltin(name))
        {
            return CallBuiltinAsync(context, profile, session, body, length, env, accepts, Encoding.UTF8.GetString(name));
        }

        var server = profile.Route(name, out var offset);
        if (server is null)
        {
            _gateway.Metrics.RecordToolCall(profile.Name, "_none", "_unknown", "unknown_tool", 0);
            return WriteMessageAsync(
                context,
                JsonRpcWriter.Error(rawId, ErrorCodes.InvalidParams, UnknownName("tool", Encoding.UTF8.GetString(name), profile)),
                session,
                accepts.PreferSse
            );
        }

        var toolName = name[offset..];
        if (!profile.Exposes(server, toolName))
        {
            // Not exposed by the profile's toolSelection: as unknown as a tool the server does not have, and never forwarded.
            _gateway.Metrics.RecordToolCall(profile.Name, server.Name, "_unknown", "unknown_tool", 0);
            return WriteMessageAsync(
                context,
                JsonRpcWriter.Error(rawId, ErrorCodes.InvalidParams, Configuration.ToolSelection.NotExposed(Encoding.UTF8.GetString(name), profile.Name)),
                session,
                accepts.PreferSse
            );
        }

        string toolLabel,
            qualified;
        var tools = server.Cached(ListKind.Tools);
        if (tools?.Find(toolName) is { } known)
        {
            toolLabel = known.Key;
            qualified = known.Qualified(server.Name);
            if (accepts.Modern && known.ParamHeaders.Length > 0 && ParamHeaders.Check(context.Request, span, env, known.ParamHeaders) is { } mismatch)
            {
                _gateway.Metrics.RecordToolCall(profile.Name, server.Name, toolLabel, "invalid", 0);
                return WriteModernErrorAsync(context, mismatch.Status, ModernValidation.Error(rawId, mismatch));
            }
        }
        else if (tools is not null && !profile.Config.ForwardUnlistedTools)
        {
            _gateway.Metrics.RecordToolCall(profile.Name, server.Name, "_unknown", "unknown_tool", 0);
            return WriteMessageAsync(
                context,
                JsonRpcWriter.Error(
                    rawId,
                    ErrorCodes.InvalidParams,
                    $"Unknown tool '{Encoding.UTF8.GetString(name)}': MCP server '{server.Name}' has no tool '{Encoding.UTF8.GetString(toolName)}'."
                ),
                session,
                accepts.PreferSse
            );
        }
        else
        {
            // Not listed yet (upstream just connected), or a bridge: forward and let the server decide; keep metric labels bounded.
            toolLabel = "_unlisted";
            qualified = McpProtocol.Qualify(server.Name, Encoding.UTF8.GetString(toolName));
        }

        // A modern client's requestState on a call to a 2025 server can only be the gateway's: a held call's continuation, or an
        // approval (checked with the policy below). Anything else is refused, never forwarded as if the call were new.
        string? requestState = null;
        if (accepts.Modern && server.Upstream.Era == McpEra.Legacy && JsonObjectScan.GetString(env.Params.Of(span), "requestState"u8) is { } presented)
        {
            if (SessionIds.LooksLikeContinuation(presented))
            {
                return ContinueAsync(context, profile, server, body, length, env, accepts, (toolLabel, qualified), presented);
            }

            requestState = presented;
        }

        var policies = _gateway.Policies.ForProfile(profile.Name);
        var arguments = env.Arguments.Of(span);
        // A modern request has no session whose trust could be tracked: it is judged as if untrusted data could be in its
        // context, so it never escapes a rule that would stop a tainted 2025 session (README, "MCP 2026-07-28").
        var trusted = session?.Trust.IsTrusted ?? !accepts.Modern;
        var decision = policies.EvaluateInvocation(qualified, arguments, trusted);
        var call = new ToolCallLabels(profile.Name, server.Name, toolLabel, qualified, policies, Agent: AgentCorrelation.Of(context.Request));
        var removeFromName = new Slice(nameSlice.Start, offset);
        if (trusted && session is not null && _gateway.State.SharedTaints is { } shared)
        {
            // Only a call the session's taint would decide otherwise asks whether another replica tainted the session.
            var ifTainted = policies.EvaluateInvocation(qualified, arguments, contextTrusted: false);
            if (ifTainted.Verdict != decision.Verdict)
            {
                return DecideWithSharedTrustAsync(
                    context,
                    session,
                    server,
                    body,
                    length,
                    env,
                    removeFromName,
                    accepts,
                    call,
                    requestState,
                    decision,
                    ifTainted,
                    shared
                );
            }
        }

        return Decide(context, session, server, body, length, env, removeFromName, accepts, call, requestState, decision, refusal: null);
    }

    /// <summary>Carries out an invocation decision: forward, ask for approval, or refuse (with <paramref name="refusal"/> when given).</summary>
    private Task Decide(
        HttpContext context,
        McpSession? session,
        UpstreamEntry server,
        byte[] body,
        int length,
        JsonRpcEnvelope env,
        Slice removeFromName,
        AcceptedTypes accepts,
        ToolCallLabels call,
        string? requestState,
        InvocationDecision decision,
        string? refusal
    )
    {
        var span = body.AsSpan(0, length);
        McpTelemetry.Decision(decision, server.Name);
        call = call with { PolicyId = decision.PolicyId };
        return decision.Verdict switch
        {
            InvocationVerdict.Allow when requestState is not null => WriteMessageAsync(
                context,
                JsonRpcWriter.Error(env.Id.Of(span), ErrorCodes.InvalidParams, InvalidRequestState),
                null,
                accepts.PreferSse
            ),
            InvocationVerdict.Allow => ForwardAsync(context, session, server, body, length, env, removeFromName, accepts, idempotent: false, call),
            InvocationVerdict.RequireApproval => ApproveThenForwardAsync(context, session, server, body, length, env, removeFromName, accepts, call, decision),
            _ => RefuseAsync(
                context,
                session,
                span,
                env,
                accepts,
                call with
                {
                    Decision = "block",
                },
                refusal ?? RefusalText(decision, call.Qualified, session, accepts.Modern)
            ),
        };
    }

    /// <summary>
    /// Forwards a request to <paramref name="server"/> with its id (and optionally a name prefix and the
    /// progress token) rewritten, relays what the upstream sends during the call, and writes the answer
    /// with the client's id. Returns the outcome label; for tools/call (<paramref name="tool"/> set) it
    /// also records the call's metrics here, so the hot path has a single async frame.
    /// </summary>
    private async Task<string> ForwardAsync(
        HttpContext context,
        McpSession? session,
        UpstreamEntry server,
        byte[] body,
        int length,
        JsonRpcEnvelope env,
        Slice removeFromName,
        AcceptedTypes accepts,
        bool idempotent,
        ToolCallLabels? tool = null,
        CallRelay? relay = null,
        InputRoundCall? resume = null
    )
    {
        var started = resume?.Started ?? Stopwatch.GetTimestamp();
        var inspectToolResult = tool is not null;
        var span = body.AsSpan(0, length);
        var upstream = server.Upstream;
        var clientId = env.Id.Of(span).ToArray();
        var progressToken = env.ProgressToken.IsEmpty ? null : env.ProgressToken.Of(span).ToArray();
        relay ??= new CallRelay(context, session, server, progressToken, accepts, _rejectServerRequest);

        UpstreamCallResult result;
        if (resume is not null || (accepts.Modern && tool is not null && upstream.Era == McpEra.Legacy))
        {
            // A modern client's call to a 2025 server: held across rounds when the server asks the client for input.
            var round = resume ?? StartRound(server, tool!.Value, started, span, env, removeFromName, isTool: true);

            if (await NextRoundAsync(context, round, body, length, env, relay, clientId).ConfigureAwait(false) is not { } finished)
            {
                return "input_required";
            }

            result = finished;
        }
        else
        {
            McpTelemetry.StartUpstream(server);
            var (forward, forwardLength, upstreamId) = Rewrite(span, env, removeFromName, upstream);
            CancellationTokenSource? cancel = null;
            string? inFlightKey = null;
            var token = context.RequestAborted;
            if (session is not null)
            {
                cancel = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, session.Lifetime.Token);
                inFlightKey = Encoding.UTF8.GetString(clientId);
                session.InFlight[inFlightKey] = cancel;
                token = cancel.Token;
            }

            try
            {
                var request = forward.AsMemory(0, forwardLength);
                if (upstream.Era == McpEra.Modern && session is not null)
                {
                    // The session's capabilities go in the envelope: a modern server asks only for the input this client can give.
                    if (
                        ModernEnvelope.Apply(request.Span, upstream.Options.ClientName, upstream.Options.ClientVersion, session.Capabilities.Json) is
                        { } enveloped
                    )
                    {
                        request = enveloped;
                    }
                }

                result = await upstream.CallAsync(request, upstreamId, idempotent, relay, token).ConfigureAwait(false);
                McpTelemetry.EndUpstream(result);
                if (upstream.Era == McpEra.Modern && !accepts.Modern && result.Response is { } first && ModernResults.IsInputRequired(first))
                {
                    result = await AnswerInputRoundsAsync(context, session, server, relay, body, length, env, removeFromName, accepts, result, token)
                        .ConfigureAwait(false);
                }
            }
            finally
            {
                BytePool.Return(forward);
                if (inFlightKey is not null)
                {
                    session!.InFlight.TryRemove(inFlightKey, out _);
                    cancel!.Dispose();
                }
            }
        }

        if (!result.IsSuccess)
        {
            Log.CallFailed(_gateway.Logger, server.Name, result.Error.ToString(), result.Detail ?? "");
            if (result.Error == UpstreamError.Cancelled)
            {
                // notifications/cancelled or a closed connection: the spec says no response is sent.
                if (!context.RequestAborted.IsCancellationRequested && !relay.Streaming)
                {
                    context.Response.StatusCode = StatusCodes.Status202Accepted;
                }

                return Done("cancelled", 0, "cancelled by the client");
            }

            var (code, stage) = McpErrors.Map(result.Error);
            var detail = result.Detail ?? $"MCP server '{server.Name}' failed";
            var error = JsonRpcWriter.Error(clientId, code, detail, server.Name, stage);
            await relay.FinishAsync(error).ConfigureAwait(false);
            return Done(result.Error == UpstreamError.Timeout ? "timeout" : "upstream_error", error.Length, detail);
        }

        var response = result.Response!;
        if (tool is { } call && response.Kind != JsonRpcKind.ErrorResponse)
        {
            var verdict = call.Policies.EvaluateResult(call.Qualified, response.Envelope.Result.Of(response.Span));
            if (verdict.Verdict == ResultVerdict.Block)
            {
                Log.ResultBlocked(_gateway.Logger, call.Qualified, verdict.PolicyId ?? "default", session?.Id ?? "-");
                var text = verdict.RefusalText(call.Qualified);
                var withheld = ToolErrorResult(clientId, text, accepts.Modern);
                await relay.FinishAsync(withheld).ConfigureAwait(false);
                tool = call with { Decision = "result_blocked", PolicyId = verdict.PolicyId };
                return Done("blocked", withheld.Length, text);
            }

            // Before the client sees the result, so its next call is already judged in the untrusted context, on every replica.
            if (session is not null && session.ObserveResult(call.Qualified, verdict))
            {
                Log.SessionTainted(_gateway.Logger, session.Id, call.Qualified, verdict.PolicyId ?? "default");
                DynamicTools.OnTainted(session, call.Policies);
                if (!await ShareTaintAsync(session, call.Qualified, context.RequestAborted).ConfigureAwait(false))
                {
                    var text =
                        $"The result of {call.Qualified} is withheld: it made this session untrusted, and the gateway could not record that in its "
                        + "database for its other replicas, so the result cannot be shown safely. Try again.";
                    var withheld = ToolErrorResult(clientId, text, accepts.Modern);
                    await relay.FinishAsync(withheld).ConfigureAwait(false);
                    tool = call with { Decision = "result_blocked", PolicyId = verdict.PolicyId };
                    return Done("blocked", withheld.Length, text);
                }
            }
        }

        var outcome =
            response.Kind == JsonRpcKind.ErrorResponse ? "error"
            : inspectToolResult && ResultInspector.IsToolError(response) ? "error"
            : "ok";
        var idEdit = new JsonRpcRewriter.Edit(response.Envelope.Id, clientId);
        var modernEdit = accepts.Modern ? ModernEdit(response, env.MethodIs(body, McpMethods.ResourcesRead)) : default;
        var (dataAt, data) = accepts.Modern ? NotFoundData(response, body, env) : default;
        var dataEdit = data is null ? default : new JsonRpcRewriter.Edit(dataAt, data);
        var outBuffer = BytePool.Rent(JsonRpcRewriter.MaxLength(response.Buffer.Length, idEdit, modernEdit, dataEdit));
        int written;
        try
        {
            written = JsonRpcRewriter.Rewrite(response.Span, outBuffer, idEdit, modernEdit, dataEdit);
            // 2026-07-28: a server's MissingRequiredClientCapabilityError is answered with HTTP 400 (basic/lifecycle), even
            // when the server raised it while handling the request; every other relayed error stays 200.
            var status =
                accepts.Modern
                && response.Kind == JsonRpcKind.ErrorResponse
                && ModernResults.ErrorCodeIs(response, McpErrorCodes.MissingRequiredClientCapability)
                    ? StatusCodes.Status400BadRequest
                    : StatusCodes.Status200OK;
            await relay.FinishAsync(outBuffer.AsMemory(0, written), status).ConfigureAwait(false);
        }
        finally
        {
            BytePool.Return(outBuffer);
        }

        return Done(outcome, written, null);

        string Done(string outcome, int responseBytes, string? error)
        {
            if (tool is { } labels)
            {
                var elapsed = Stopwatch.GetElapsedTime(started);
                _gateway.Metrics.RecordToolCall(labels.Profile, labels.Server, labels.Tool, outcome, elapsed.TotalSeconds);
                RecordCall(labels, session, outcome, elapsed, length, responseBytes, error, env.Arguments.Of(body.AsSpan(0, length)));
            }

            return outcome;
        }
    }

    /// <summary>The request as the upstream gets it: a fresh upstream id (also the progress token) and the name prefix removed.</summary>
    private static (byte[] Forward, int Length, long UpstreamId) Rewrite(
        ReadOnlySpan<byte> span,
        in JsonRpcEnvelope env,
        Slice removeFromName,
        McpUpstream upstream
    )
    {
        var upstreamId = upstream.NextId();
        Span<byte> idDigits = stackalloc byte[20];
        var idBytes = idDigits[..JsonRpcRewriter.FormatId(upstreamId, idDigits)];
        var edits0 = new JsonRpcRewriter.Edit(env.Id, idBytes);
        var edits1 = removeFromName.IsEmpty ? default : new JsonRpcRewriter.Edit(removeFromName, default);
        var edits2 = env.ProgressToken.IsEmpty ? default : new JsonRpcRewriter.Edit(env.ProgressToken, idBytes);
        var forward = BytePool.Rent(JsonRpcRewriter.MaxLength(span.Length, edits0, edits1, edits2));
        var length = JsonRpcRewriter.Rewrite(span, forward, edits0, edits1, edits2);
        McpTelemetry.InjectMeta(ref forward, ref length);
        return (forward, length, upstreamId);
    }

    private static string UnknownName(string kind, string name, GatewayProfile profile)
    {
        var servers = string.Join(", ", Array.ConvertAll(profile.Servers, s => s.Name));
        return profile.Prefixed
            ? $"Unknown {kind} '{name}': in profile '{profile.Name}' names are '{{server}}__{{{kind}}}' with server one of: {servers}."
            : $"Unknown {kind} '{name}'.";
    }
}
