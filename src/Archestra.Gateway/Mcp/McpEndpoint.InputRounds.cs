using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using Archestra.Runtime.Buffers;
using Archestra.Runtime.JsonRpc;
using Archestra.Runtime.Protocol;
using Archestra.Runtime.Upstreams;

namespace Archestra.Gateway.Mcp;

/// <summary>
/// Input a server needs from the client during a call, translated between the eras (2026-07-28 basic/patterns/mrtr):
/// a 2025 server's <c>elicitation/create</c>, <c>sampling/createMessage</c> or <c>roots/list</c> reaches a modern client as
/// <c>input_required</c> (the call held in this process, <see cref="InputRoundCall"/>), and a modern server's
/// <c>input_required</c> reaches a 2025 client as those requests on the call's stream, its answers going back as the retry.
/// </summary>
internal sealed partial class McpEndpoint
{
    /// <summary>Rounds of input one call may ask of a 2025 client before it fails (the v2 TypeScript SDK's maxRounds default).</summary>
    private const int MaxInputRounds = 8;

    private const string InvalidRequestState =
        "Invalid params: requestState was not issued by this gateway for this call: it was altered, has expired, was issued for another "
        + "tool or other arguments, or comes from a gateway with another security.sessionKey. Call the tool again without it.";

    /// <summary>
    /// Attaches one client request to a held call and waits for the call's result (returned) or for the server to ask for
    /// input: then the request is answered with <c>input_required</c> and a sealed continuation state, and null is returned.
    /// </summary>
    private async Task<UpstreamCallResult?> NextRoundAsync(
        HttpContext context,
        InputRoundCall round,
        byte[] body,
        int length,
        JsonRpcEnvelope env,
        CallRelay relay,
        byte[] clientId
    )
    {
        var capabilities = ClientCapabilities.OfModern(body.AsSpan(0, length), env);
        while (true)
        {
            if (await round.NextAsync(relay, capabilities, context.RequestAborted).ConfigureAwait(false) is { } finished)
            {
                _gateway.InputRounds.Release(round);
                return finished;
            }

            if (_gateway.InputRounds.TryHold(round))
            {
                break;
            }

            round.RefuseAsked($"this gateway already holds {_gateway.InputRounds.Count} calls waiting for input (limits.maxSessions)");
            round.TryAttach();
        }

        var span = body.AsSpan(0, length);
        if (round.Digest is null)
        {
            round.Digest = CallDigest(round.Labels.Profile, round.Labels.Qualified, env.Arguments.Of(span));
            round.Audit = (length, AuditArguments(env.Arguments.Of(span)));
        }

        var timeout = _gateway.Config.Limits.ApprovalTimeout;
        var state = _gateway.Sessions.Ids.SealContinuation(
            round.Digest,
            _gateway.InputRounds.Handle(round),
            round.NextRound(),
            DateTimeOffset.UtcNow + timeout
        );
        round.Hold(timeout, _roundAbandoned);
        await relay.FinishAsync(InputRequired(clientId, round.Unanswered(), state)).ConfigureAwait(false);
        return null;
    }

    /// <summary>Sends a modern client's request to a 2025 server as a call that can be held across rounds of input.</summary>
    private InputRoundCall StartRound(
        UpstreamEntry server,
        ToolCallLabels labels,
        long started,
        ReadOnlySpan<byte> span,
        in JsonRpcEnvelope env,
        Slice removeFromName,
        bool isTool
    )
    {
        var round = new InputRoundCall(
            _gateway.InputRounds.NextNumber(),
            server,
            labels,
            started,
            ClientCapabilities.OfModern(span, env),
            _rejectServerRequest,
            isTool
        );
        var (forward, length, upstreamId) = Rewrite(span, env, removeFromName, server.Upstream);
        round.Start(forward, length, upstreamId);
        return round;
    }

    /// <summary>
    /// A modern client's retry of a held call: its <c>requestState</c> must open for this very call (profile, tool, arguments)
    /// with this gateway's key, and name a call this process holds. Then its <c>inputResponses</c> go to the server as the
    /// answers to its requests and the retry waits for the next round. A state of another process is refused: the 2025
    /// server's requests wait on that process's connection, which no other process can answer.
    /// </summary>
    private Task ContinueAsync(
        HttpContext context,
        GatewayProfile profile,
        UpstreamEntry server,
        byte[] body,
        int length,
        JsonRpcEnvelope env,
        AcceptedTypes accepts,
        (string Tool, string Qualified) names,
        string state,
        bool isTool = true
    )
    {
        var span = body.AsSpan(0, length);
        var opened = _gateway.Sessions.Ids.OpenContinuation(state, CallDigest(profile.Name, names.Qualified, env.Arguments.Of(span)), DateTimeOffset.UtcNow);
        InputRoundCall? round = null;
        string? refusal;
        if (opened is not { } continuation)
        {
            refusal = InvalidRequestState;
        }
        else
        {
            (round, var place) = _gateway.InputRounds.Find(continuation.Handle);
            refusal = place switch
            {
                HeldCallPlace.Elsewhere =>
                    "Invalid params: requestState continues a call that waits in another Archestra gateway process (the one that answered "
                        + "input_required): the MCP server's request waits on that process's connection, so the retry must reach that process "
                        + "(route by requestState or use sticky sessions). Call the tool again without requestState to start over here.",
                HeldCallPlace.Ended =>
                    "Invalid params: the call this requestState continues has already ended (its result was delivered, or nobody retried within "
                        + "limits.approvalTimeoutSeconds and it was cancelled). Call the tool again without requestState.",
                _ when continuation.Round != round!.Round =>
                    "Invalid params: requestState is from an earlier round of this call: the server has asked again since. Retry with the "
                        + "requestState of the latest input_required, answering its inputRequests.",
                _ => round.TryAttach(continuation.Round) ? null : "Invalid params: another retry of this call is waiting for it; send one retry at a time.",
            };
        }

        if (refusal is not null)
        {
            if (isTool)
            {
                _gateway.Metrics.RecordToolCall(profile.Name, server.Name, names.Tool, "invalid", 0);
            }

            return WriteMessageAsync(context, JsonRpcWriter.Error(env.Id.Of(span), ErrorCodes.InvalidParams, refusal), null, accepts.PreferSse);
        }

        var parameters = env.Params.Of(span);
        foreach (var answer in round!.TakeAnswers(JsonObjectScan.FindValue(parameters, "inputResponses"u8).Of(parameters)))
        {
            _ = McpGateway.SendQuietlyAsync(round.Server, answer);
        }

        var tool = round.IsTool ? round.Labels : (ToolCallLabels?)null;
        return ForwardAsync(context, null, round.Server, body, length, env, default, accepts, idempotent: false, tool, resume: round);
    }

    /// <summary>A held call nobody retried before its state expired: cancelled, and recorded as a 2025 call whose client left.</summary>
    private void OnRoundAbandoned(InputRoundCall round)
    {
        _gateway.InputRounds.Release(round);
        var labels = round.Labels;
        var elapsed = Stopwatch.GetElapsedTime(round.Started);
        var why = $"no retry with the input responses within {_gateway.Config.Limits.ApprovalTimeout.TotalSeconds:0} s (limits.approvalTimeoutSeconds)";
        Log.CallFailed(_gateway.Logger, labels.Server, "Cancelled", why);
        if (!round.IsTool)
        {
            return;
        }

        _gateway.Metrics.RecordToolCall(labels.Profile, labels.Server, labels.Tool, "cancelled", elapsed.TotalSeconds);
        RecordCall(labels, null, "cancelled", elapsed, round.Audit.RequestBytes, 0, why, round.Audit.Arguments);
    }

    /// <summary>
    /// A modern server answered a 2025 client's request with <c>input_required</c>: each input request goes to the client on
    /// the call's stream (as the server would have sent it in 2025), and the request is sent again with the answers in
    /// <c>inputResponses</c> and the server's <c>requestState</c> echoed, until the server completes (at most <see cref="MaxInputRounds"/>).
    /// </summary>
    private async Task<UpstreamCallResult> AnswerInputRoundsAsync(
        HttpContext context,
        McpSession? session,
        UpstreamEntry server,
        CallRelay relay,
        byte[] body,
        int length,
        JsonRpcEnvelope env,
        Slice removeFromName,
        AcceptedTypes accepts,
        UpstreamCallResult result,
        CancellationToken token
    )
    {
        var upstream = server.Upstream;
        for (var round = 0; round < MaxInputRounds; round++)
        {
            var asked = result.Response!;
            var (responses, failure) = await AskForInputAsync(context, session, relay, accepts, asked).ConfigureAwait(false);
            var retry = responses is null ? null : RetryWithInput(body.AsSpan(0, length), env, removeFromName, upstream, responses, asked);
            if (retry is null)
            {
                var text =
                    $"MCP server '{server.Name}' needs input from the client, but {failure ?? "the request already carries inputResponses or requestState"}";
                return UpstreamCallResult.Success(Unanswerable(asked, body.AsSpan(0, length), env, text));
            }

            var request = retry.Value.Request;
            if (
                session is not null
                && ModernEnvelope.Apply(request, upstream.Options.ClientName, upstream.Options.ClientVersion, session.Capabilities.Json) is { } enveloped
            )
            {
                request = enveloped;
            }

            result = await upstream.CallAsync(request, retry.Value.UpstreamId, idempotent: false, relay, token).ConfigureAwait(false);
            if (result.Response is not { } next || !ModernResults.IsInputRequired(next))
            {
                return result;
            }
        }

        return UpstreamCallResult.Failure(UpstreamError.Protocol, $"MCP server '{server.Name}' still asked for input after {MaxInputRounds} rounds");
    }

    /// <summary>The client's answers to a modern server's <c>inputRequests</c> as an <c>inputResponses</c> object, or why they cannot be had.</summary>
    private async Task<(byte[]? Responses, string? Failure)> AskForInputAsync(
        HttpContext context,
        McpSession? session,
        CallRelay relay,
        AcceptedTypes accepts,
        UpstreamMessage asked
    )
    {
        if (session is null)
        {
            return (null, "this request has no MCP session, so the client cannot be asked");
        }

        if (!accepts.Sse && !session.HasGetStream)
        {
            return (null, "this request accepts no event stream and the session has no GET stream open, so the question cannot be delivered");
        }

        var result = asked.Envelope.Result.Of(asked.Span);
        var requests = ReadInputRequests(JsonObjectScan.FindValue(result, "inputRequests"u8).Of(result));
        if (requests is null)
        {
            return (null, "its inputRequests is not an object of requests");
        }

        var responses = new ArrayBufferWriter<byte>(256);
        responses.Write("{"u8);
        foreach (var (key, method, parameters) in requests)
        {
            var caps = session.Capabilities;
            var declared = method switch
            {
                "elicitation/create" => caps.Elicitation,
                "sampling/createMessage" => caps.Sampling,
                "roots/list" => caps.Roots,
                _ => false,
            };
            if (!declared)
            {
                return (null, $"the client did not declare the capability {method} needs");
            }

            var (reply, failure) = await AskClientAsync(context, session, relay, id => ServerRequest(id, method, parameters)).ConfigureAwait(false);
            if (failure is not null)
            {
                return (null, failure);
            }

            if (JsonRpcEnvelope.TryParse(reply, out var answer) != JsonRpcParseError.None || answer.Kind != JsonRpcKind.Response)
            {
                var message = answer.Kind == JsonRpcKind.ErrorResponse ? JsonObjectScan.GetString(answer.Error.Of(reply), "message"u8) : null;
                return (null, $"the client could not answer {method} ({message ?? "no result"})");
            }

            if (responses.WrittenCount > 1)
            {
                responses.Write(","u8);
            }

            responses.Write(key);
            responses.Write(":"u8);
            responses.Write(answer.Result.Of(reply));
        }

        responses.Write("}"u8);
        return (responses.WrittenSpan.ToArray(), null);
    }

    /// <summary>The entries of <c>inputRequests</c>: raw key (quoted), method, params (raw, or null). Null when it is not an object of objects.</summary>
    private static List<(byte[] Key, string Method, byte[]? Params)>? ReadInputRequests(ReadOnlySpan<byte> json)
    {
        var entries = new List<(byte[], string, byte[]?)>();
        if (json.IsEmpty)
        {
            return entries;
        }

        var reader = new Utf8JsonReader(json);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var key = json.Slice((int)reader.TokenStartIndex, reader.ValueSpan.Length + 2).ToArray();
                if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                {
                    return null;
                }

                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                var value = json[start..(int)reader.BytesConsumed];
                var parameters = JsonObjectScan.FindValue(value, "params"u8);
                if (JsonObjectScan.GetString(value, "method"u8) is not { } method)
                {
                    return null;
                }

                entries.Add((key, method, parameters.IsEmpty ? null : parameters.Of(value).ToArray()));
            }
        }
        catch (JsonException)
        {
            return null;
        }

        return entries;
    }

    private static byte[] ServerRequest(long id, string method, byte[]? parameters)
    {
        var buffer = new ArrayBufferWriter<byte>(64 + (parameters?.Length ?? 0));
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("jsonrpc"u8, "2.0"u8);
            w.WriteNumber("id"u8, id);
            w.WriteString("method"u8, method);
            if (parameters is not null)
            {
                w.WritePropertyName("params"u8);
                w.WriteRawValue(parameters, skipInputValidation: true);
            }

            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// The client's request sent again to a modern server: a new upstream id, the name prefix removed, and
    /// <c>inputResponses</c> plus the server's <c>requestState</c> (copied as sent) first in params. Null when the client's
    /// request already carries either (the copy would repeat a key).
    /// </summary>
    private static (byte[] Request, long UpstreamId)? RetryWithInput(
        ReadOnlySpan<byte> span,
        in JsonRpcEnvelope env,
        Slice removeFromName,
        McpUpstream upstream,
        byte[] responses,
        UpstreamMessage asked
    )
    {
        var parameters = env.Params.Of(span);
        var result = asked.Envelope.Result.Of(asked.Span);
        var state = JsonObjectScan.FindValue(result, "requestState"u8).Of(result);
        if (
            parameters.IsEmpty
            || parameters[0] != (byte)'{'
            || !JsonObjectScan.FindValue(parameters, "inputResponses"u8).IsEmpty
            || !JsonObjectScan.FindValue(parameters, "requestState"u8).IsEmpty
            || (!state.IsEmpty && state[0] != (byte)'"')
        )
        {
            return null;
        }

        var (forward, length, upstreamId) = Rewrite(span, env, removeFromName, upstream);
        try
        {
            var rewritten = forward.AsSpan(0, length);
            JsonRpcEnvelope.TryParseLenient(rewritten, out var renv);
            var at = renv.Params.Start + 1;
            var insert = new ArrayBufferWriter<byte>(responses.Length + state.Length + 40);
            insert.Write("\"inputResponses\":"u8);
            insert.Write(responses);
            if (!state.IsEmpty)
            {
                insert.Write(",\"requestState\":"u8);
                insert.Write(state);
            }

            var rest = rewritten[at..];
            if (rest.TrimStart(" \t\r\n"u8) is not [(byte)'}', ..])
            {
                insert.Write(","u8);
            }

            var retry = new byte[length + insert.WrittenCount];
            rewritten[..at].CopyTo(retry);
            insert.WrittenSpan.CopyTo(retry.AsSpan(at));
            rest.CopyTo(retry.AsSpan(at + insert.WrittenCount));
            return (retry, upstreamId);
        }
        finally
        {
            BytePool.Return(forward);
        }
    }

    /// <summary>What a 2025 client gets when a modern server's input cannot be had: a failed tool call, or an error for other requests.</summary>
    private static UpstreamMessage Unanswerable(UpstreamMessage asked, ReadOnlySpan<byte> request, in JsonRpcEnvelope env, string text)
    {
        var id = asked.Envelope.Id.Of(asked.Span);
        var message = env.MethodIs(request, McpMethods.ToolsCall) ? ToolErrorResult(id, text) : JsonRpcWriter.Error(id, ErrorCodes.InternalError, text);
        return UpstreamMessage.TryWrap(message)!;
    }

    /// <summary>
    /// Sends a request of the gateway's own to the session's client on the call's stream and waits for the answer (the whole
    /// JSON-RPC response), at most <c>limits.approvalTimeoutSeconds</c>: how long a person may take.
    /// </summary>
    private async Task<(byte[] Reply, string? Failure)> AskClientAsync(HttpContext context, McpSession session, CallRelay relay, Func<long, byte[]> request)
    {
        var id = session.NextServerRequestId();
        var answer = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        session.PendingServerRequests[id] = new PendingServerRequest(null, null, Environment.TickCount64, answer);
        try
        {
            relay.SendServerRequest(request(id));
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, session.Lifetime.Token);
            try
            {
                return (await answer.Task.WaitAsync(_gateway.Config.Limits.ApprovalTimeout, linked.Token).ConfigureAwait(false), null);
            }
            catch (TimeoutException)
            {
                return ([], $"no answer within {_gateway.Config.Limits.ApprovalTimeout.TotalSeconds:0} seconds (limits.approvalTimeoutSeconds)");
            }
            catch (OperationCanceledException)
            {
                return ([], "the request was cancelled before the user answered");
            }
        }
        finally
        {
            session.PendingServerRequests.TryRemove(id, out _);
        }
    }

    /// <summary>An <c>input_required</c> result (mrtr "InputRequiredResult"): the input requests by key, and the state to echo.</summary>
    private static byte[] InputRequired(ReadOnlySpan<byte> rawId, ReadOnlySpan<AskedInput> requests, string state)
    {
        var size = 256 + state.Length;
        foreach (var request in requests)
        {
            size += request.Key.Length + request.Request.Length + 8;
        }

        var buffer = new ArrayBufferWriter<byte>(size);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("jsonrpc"u8, "2.0"u8);
            w.WritePropertyName("id"u8);
            w.WriteRawValue(rawId, skipInputValidation: true);
            w.WriteStartObject("result"u8);
            w.WriteString("resultType"u8, "input_required"u8);
            w.WriteStartObject("inputRequests"u8);
            foreach (var request in requests)
            {
                w.WritePropertyName(request.Key);
                w.WriteRawValue(request.Request, skipInputValidation: true);
            }

            w.WriteEndObject();
            w.WriteString("requestState"u8, state);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
