using System.Text;
using System.Text.Json;
using Archestra.Gateway.Http;
using Archestra.Policy;
using Archestra.Runtime.JsonRpc;
using Archestra.Storage;

namespace Archestra.Gateway.Mcp;

/// <summary>
/// Policy enforcement on tools/call: refusals are tool results with <c>isError: true</c> (the model reads
/// them and can change course), and <c>require_approval</c> asks the user through <c>elicitation/create</c>.
/// </summary>
internal sealed partial class McpEndpoint
{
    /// <summary>Approval prompts show at most this much of the arguments; the rest is summarised by size.</summary>
    private const int ApprovalArgumentsShown = 2048;

    /// <param name="Tool">The metric label: the listed tool name, or a bounded placeholder.</param>
    /// <param name="Qualified">The <c>{server}__{tool}</c> name policies are written for.</param>
    /// <param name="Policies">The policy snapshot the call started with; its result is judged by the same one.</param>
    /// <param name="Decision">What the invocation policy decided (allow, approved), for the audit record.</param>
    /// <param name="PolicyId">The policy that decided, if one did.</param>
    internal readonly record struct ToolCallLabels(
        string Profile,
        string Server,
        string Tool,
        string Qualified,
        ProfilePolicies Policies,
        string Decision = "allow",
        string? PolicyId = null,
        AgentCorrelation Agent = default
    );

    private async Task RefuseAsync(
        HttpContext context,
        McpSession? session,
        byte[] rawId,
        AcceptedTypes accepts,
        ToolCallLabels call,
        string text,
        int requestBytes,
        string? arguments
    )
    {
        Log.CallRefused(_gateway.Logger, call.Qualified, session?.Id ?? "-", text);
        _gateway.Metrics.RecordToolCall(call.Profile, call.Server, call.Tool, "blocked", 0);
        var refusal = ToolErrorResult(rawId, text, accepts.Modern);
        RecordCall(call, session, "blocked", TimeSpan.Zero, requestBytes, refusal.Length, text, arguments);
        await WriteMessageAsync(context, refusal, session, accepts.PreferSse).ConfigureAwait(false);
    }

    private Task RefuseAsync(
        HttpContext context,
        McpSession? session,
        ReadOnlySpan<byte> body,
        JsonRpcEnvelope env,
        AcceptedTypes accepts,
        ToolCallLabels call,
        string text
    ) => RefuseAsync(context, session, env.Id.Of(body).ToArray(), accepts, call, text, body.Length, AuditArguments(env.Arguments.Of(body)));

    /// <summary>Hands one tools/call to the audit writer; never waits. Arguments are cut to the configured size.</summary>
    private void RecordCall(
        in ToolCallLabels call,
        McpSession? session,
        string outcome,
        TimeSpan elapsed,
        int requestBytes,
        int responseBytes,
        string? error,
        ReadOnlySpan<byte> arguments
    ) => RecordCall(call, session, outcome, elapsed, requestBytes, responseBytes, error, AuditArguments(arguments));

    private void RecordCall(
        in ToolCallLabels call,
        McpSession? session,
        string outcome,
        TimeSpan elapsed,
        int requestBytes,
        int responseBytes,
        string? error,
        string? arguments
    )
    {
        if (_gateway.Audit is not { } audit)
        {
            return;
        }

        audit.Enqueue(
            new McpToolCallRecord
            {
                Profile = call.Profile,
                SessionId = session?.Id,
                Server = call.Server,
                Tool = call.Qualified.Length > call.Server.Length + 2 ? call.Qualified[(call.Server.Length + 2)..] : call.Qualified,
                Decision = call.Decision,
                PolicyId = call.PolicyId,
                Outcome = outcome,
                DurationMicroseconds = (long)elapsed.TotalMicroseconds,
                RequestBytes = requestBytes,
                ResponseBytes = responseBytes,
                Error = error,
                Arguments = arguments,
                AgentId = call.Agent.AgentId,
                AgentSessionId = call.Agent.SessionId,
            }
        );
    }

    private string? AuditArguments(ReadOnlySpan<byte> arguments) =>
        _gateway.Audit is { MaxArgumentBytes: > 0 } audit && !arguments.IsEmpty ? AuditText.Truncate(arguments, audit.MaxArgumentBytes) : null;

    internal static string RefusalText(in InvocationDecision decision, string tool, McpSession? session, bool modern = false)
    {
        var text =
            decision.Source == DecisionSource.Policy
                ? $"blocked by policy {decision.PolicyId}: {decision.Reason}"
                : $"blocked by the default setting of {tool}: {decision.Reason}";
        return session?.TaintedBy is { } taintedBy ? $"{text} (untrusted data entered this session with a result of {taintedBy})"
            : modern ? $"{text} (an MCP 2026-07-28 request has no session whose trust the gateway can track, so its context is judged as untrusted)"
            : text;
    }

    /// <summary>A tools/call result the client shows the model as a failed call: <c>isError: true</c> with one text.</summary>
    internal static byte[] ToolErrorResult(ReadOnlySpan<byte> rawId, string text, bool modern = false) =>
        JsonRpcWriter.Result(rawId, (text, modern), static (w, state) =>
        {
            var (message, modern) = state;
            w.WriteStartObject();
            if (modern)
            {
                w.WriteString("resultType"u8, "complete"u8);
            }

            w.WriteStartArray("content"u8);
            w.WriteStartObject();
            w.WriteString("type"u8, "text"u8);
            w.WriteString("text"u8, message);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteBoolean("isError"u8, true);
            w.WriteEndObject();
        });

    /// <summary>
    /// Asks the session's user to approve the call (MCP elicitation) on the call's own response stream, and
    /// forwards it only on "accept". Without a session that declared elicitation nobody can be asked, so the
    /// call is refused with a message saying approval is required.
    /// </summary>
    private async Task ApproveThenForwardAsync(
        HttpContext context,
        McpSession? session,
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
        if (accepts.Modern)
        {
            await ApproveModernAsync(context, server, body, length, env, removeFromName, accepts, call, decision).ConfigureAwait(false);
            return;
        }

        var span = body.AsSpan(0, length);
        var rawId = env.Id.Of(span).ToArray();
        var needed = $"approval required by policy {decision.PolicyId}: {decision.Reason}";
        if (session is null || !session.Capabilities.Elicitation || (!accepts.Sse && !session.HasGetStream))
        {
            var why =
                session is null ? "this request has no MCP session, so nobody can be asked"
                : !session.Capabilities.Elicitation ? "this client did not declare the elicitation capability, so nobody can be asked"
                : "this request accepts no event stream and the session has no GET stream open, so the question cannot be delivered";
            await RefuseAsync(
                    context,
                    session,
                    rawId,
                    accepts,
                    call with
                    {
                        Decision = "approval_required",
                    },
                    $"{needed}; {why}. Ask an operator to run the call, or use a client that supports elicitation.",
                    length,
                    AuditArguments(env.Arguments.Of(span))
                )
                .ConfigureAwait(false);
            return;
        }

        var progressToken = env.ProgressToken.IsEmpty ? null : env.ProgressToken.Of(span).ToArray();
        var relay = new CallRelay(context, session, server, progressToken, accepts, _rejectServerRequest);
        var answer = await AskApprovalAsync(context, session, relay, call, decision, env.Arguments.Of(span).ToArray()).ConfigureAwait(false);
        Log.ApprovalAnswered(_gateway.Logger, call.Qualified, session.Id, answer ?? "accept");
        if (answer is not null)
        {
            Log.CallRefused(_gateway.Logger, call.Qualified, session.Id, answer);
            _gateway.Metrics.RecordToolCall(call.Profile, call.Server, call.Tool, "blocked", 0);
            var refusal = ToolErrorResult(rawId, $"{needed}; {answer}", accepts.Modern);
            RecordCall(
                call with
                {
                    Decision = "approval_declined",
                },
                session,
                "blocked",
                TimeSpan.Zero,
                length,
                refusal.Length,
                answer,
                env.Arguments.Of(body.AsSpan(0, length))
            );
            await relay.FinishAsync(refusal).ConfigureAwait(false);
            return;
        }

        await ForwardAsync(context, session, server, body, length, env, removeFromName, accepts, idempotent: false, call with { Decision = "approved" }, relay)
            .ConfigureAwait(false);
    }

    /// <summary>Null when the user accepted; otherwise why the call does not go ahead.</summary>
    private async Task<string?> AskApprovalAsync(
        HttpContext context,
        McpSession session,
        CallRelay relay,
        ToolCallLabels call,
        InvocationDecision decision,
        byte[] arguments
    )
    {
        var message = ApprovalMessage(call.Qualified, decision, arguments);
        var (reply, failure) = await AskClientAsync(context, session, relay, id => ElicitationRequest(id, message)).ConfigureAwait(false);
        return failure ?? ReadApproval(reply);
    }

    internal static string ApprovalMessage(string tool, in InvocationDecision decision, ReadOnlySpan<byte> arguments)
    {
        var shown =
            arguments.IsEmpty ? "{}"
            : arguments.Length <= ApprovalArgumentsShown ? Encoding.UTF8.GetString(arguments)
            : $"{Encoding.UTF8.GetString(arguments[..ApprovalArgumentsShown])}… ({arguments.Length} bytes in all)";
        return $"Archestra: approve the call to {tool}?\nPolicy {decision.PolicyId}: {decision.Reason}\nArguments: {shown}";
    }

    internal static byte[] ElicitationRequest(long id, string message)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256 + message.Length);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("jsonrpc"u8, "2.0"u8);
            w.WriteNumber("id"u8, id);
            WriteApprovalRequest(w, message, form: false);
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The elicitation/create of an approval: its method and params (2026-07-28 input requests name the form mode).</summary>
    internal static void WriteApprovalRequest(Utf8JsonWriter w, string message, bool form)
    {
        w.WriteString("method"u8, "elicitation/create"u8);
        w.WriteStartObject("params"u8);
        if (form)
        {
            w.WriteString("mode"u8, "form"u8);
        }

        w.WriteString("message"u8, message);

        // Nothing to fill in: the answer is the action itself (accept, decline or cancel).
        w.WriteStartObject("requestedSchema"u8);
        w.WriteString("type"u8, "object"u8);
        w.WriteStartObject("properties"u8);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>Reads the client's answer to elicitation/create: null for accept, otherwise the reason to refuse.</summary>
    internal static string? ReadApproval(ReadOnlySpan<byte> reply)
    {
        if (JsonRpcEnvelope.TryParse(reply, out var env) != JsonRpcParseError.None)
        {
            return "the client's answer was not valid JSON-RPC";
        }

        if (env.Kind == JsonRpcKind.ErrorResponse)
        {
            var message = JsonObjectScan.GetString(env.Error.Of(reply), "message"u8);
            return $"the client could not ask the user ({message ?? "no message"})";
        }

        var action = JsonObjectScan.GetString(env.Result.Of(reply), "action"u8);
        return action switch
        {
            "accept" => null,
            "decline" => "the user declined the call",
            "cancel" => "the user dismissed the approval request",
            _ => $"the client answered with an unknown action '{action}'",
        };
    }
}
