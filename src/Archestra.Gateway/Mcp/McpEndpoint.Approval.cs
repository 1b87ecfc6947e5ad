using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Archestra.Policy;
using Archestra.Runtime.JsonRpc;

namespace Archestra.Gateway.Mcp;

/// <summary>
/// <c>require_approval</c> for MCP 2026-07-28 clients, through a multi-round-trip request (basic/patterns/mrtr): the call
/// is answered with <c>input_required</c> asking <c>elicitation/create</c>, and the client's retry carries the answer in
/// <c>inputResponses.approval</c> with the <c>requestState</c> echoed. The state is the call's digest (profile, tool,
/// argument bytes) and an expiry, MACed with the session key: the gateway keeps nothing between the two requests, any
/// replica sharing <c>security.sessionKey</c> can continue the call, and a state that was altered, has expired, or is
/// presented with another tool or other arguments is refused. An answered state is spent (its nonce recorded in the
/// database), so a replay is refused too. Audit, metrics and refusals are those of a 2025 approval.
/// </summary>
internal sealed partial class McpEndpoint
{
    private const string ApprovalKey = "approval";

    private async Task ApproveModernAsync(
        HttpContext context,
        UpstreamEntry server,
        byte[] body,
        int length,
        JsonRpcEnvelope env,
        Slice removeFromName,
        AcceptedTypes accepts,
        ToolCallLabels call,
        InvocationDecision decision
    )
    {
        var span = body.AsSpan(0, length);
        var rawId = env.Id.Of(span).ToArray();
        var needed = $"approval required by policy {decision.PolicyId}: {decision.Reason}";
        var digest = CallDigest(call.Profile, call.Qualified, env.Arguments.Of(span));
        var (state, action) = ReadRetry(env.Params.Of(span));
        if (state is not null)
        {
            if (!_gateway.Sessions.Ids.OpenApproval(state, digest, DateTimeOffset.UtcNow, out var nonce, out var expires))
            {
                _gateway.Metrics.RecordToolCall(call.Profile, call.Server, call.Tool, "invalid", 0);
                await WriteMessageAsync(context, JsonRpcWriter.Error(rawId, ErrorCodes.InvalidParams, InvalidRequestState), null, accepts.PreferSse)
                    .ConfigureAwait(false);
                return;
            }

            if (action is not null && await SpendAsync(nonce, expires, context.RequestAborted).ConfigureAwait(false) is { } spent)
            {
                _gateway.Metrics.RecordToolCall(call.Profile, call.Server, call.Tool, "invalid", 0);
                await WriteMessageAsync(context, JsonRpcWriter.Error(rawId, spent.Code, spent.Message), null, accepts.PreferSse).ConfigureAwait(false);
                return;
            }

            if (action is not null)
            {
                var answer = action switch
                {
                    "accept" => null,
                    "decline" => "the user declined the call",
                    "cancel" => "the user dismissed the approval request",
                    _ => $"the client answered with an unknown action '{action}'",
                };
                if (answer is null)
                {
                    await ForwardAsync(
                            context,
                            null,
                            server,
                            body,
                            length,
                            env,
                            removeFromName,
                            accepts,
                            idempotent: false,
                            call with
                            {
                                Decision = "approved",
                            }
                        )
                        .ConfigureAwait(false);
                    return;
                }

                await RefuseAsync(
                        context,
                        null,
                        rawId,
                        accepts,
                        call with
                        {
                            Decision = "approval_declined",
                        },
                        $"{needed}; {answer}",
                        length,
                        AuditArguments(env.Arguments.Of(body.AsSpan(0, length)))
                    )
                    .ConfigureAwait(false);
                return;
            }

            // A valid state without the answer: ask again (mrtr, "Error Handling").
        }

        if (!ClientCapabilities.OfModern(body.AsSpan(0, length), env).Elicitation)
        {
            await RefuseAsync(
                    context,
                    null,
                    rawId,
                    accepts,
                    call with
                    {
                        Decision = "approval_required",
                    },
                    $"{needed}; this client did not declare the elicitation capability, so nobody can be asked. Ask an operator to run the "
                        + "call, or use a client "
                        + "that supports elicitation.",
                    length,
                    AuditArguments(env.Arguments.Of(body.AsSpan(0, length)))
                )
                .ConfigureAwait(false);
            return;
        }

        var sealedState = _gateway.Sessions.Ids.SealApproval(digest, DateTimeOffset.UtcNow + _gateway.Config.Limits.ApprovalTimeout);
        var message = ApprovalMessage(call.Qualified, decision, env.Arguments.Of(body.AsSpan(0, length)));
        await WriteMessageAsync(context, InputRequired(rawId, [ApprovalInput(message)], sealedState), null, accepts.PreferSse).ConfigureAwait(false);
    }

    /// <summary>
    /// Marks an approval state answered; null the first time, else the refusal: a replayed state (answered before, here or on
    /// a replica of the same database) or a ledger that cannot be read. Either way nothing is forwarded.
    /// </summary>
    private async Task<(int Code, string Message)?> SpendAsync(byte[] nonce, DateTimeOffset expires, CancellationToken cancellationToken)
    {
        try
        {
            return await _gateway.State.SpentStates.TrySpendAsync(nonce, expires, cancellationToken).ConfigureAwait(false)
                ? null
                : (
                    ErrorCodes.InvalidParams,
                    "Invalid params: this requestState has already been answered; each approval lets one call through. Call the tool again "
                        + "without requestState to be asked again."
                );
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.ApprovalLedgerFailed(_gateway.Logger, e.GetType().Name, e.Message);
            return (
                ErrorCodes.InternalError,
                "The approval could not be recorded as answered (the gateway's storage failed), so the call was not made. Try again."
            );
        }
    }

    /// <summary>SHA-256 of profile, tool and the argument bytes as received: the retry must carry the very same call.</summary>
    private static byte[] CallDigest(string profile, string qualified, ReadOnlySpan<byte> arguments)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(profile));
        hash.AppendData([0]);
        hash.AppendData(Encoding.UTF8.GetBytes(qualified));
        hash.AppendData([0]);
        hash.AppendData(arguments.IsEmpty ? "{}"u8 : arguments);
        return hash.GetHashAndReset();
    }

    /// <summary>params.requestState, and the action of params.inputResponses.approval.</summary>
    private static (string? State, string? Action) ReadRetry(ReadOnlySpan<byte> parameters)
    {
        var state = JsonObjectScan.GetString(parameters, "requestState"u8);
        var responses = JsonObjectScan.FindValue(parameters, "inputResponses"u8).Of(parameters);
        var approval = JsonObjectScan.FindValue(responses, "approval"u8).Of(responses);
        return (state, JsonObjectScan.GetString(approval, "action"u8));
    }

    /// <summary>The approval's input request: <c>{"method":"elicitation/create","params":…}</c> in form mode.</summary>
    private static AskedInput ApprovalInput(string message)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + message.Length);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            WriteApprovalRequest(w, message, form: true);
            w.WriteEndObject();
        }

        return new AskedInput(ApprovalKey, [], buffer.WrittenSpan.ToArray());
    }
}
