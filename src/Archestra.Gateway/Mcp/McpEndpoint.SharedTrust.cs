using Archestra.Gateway.Core;
using Archestra.Policy;
using Archestra.Runtime.JsonRpc;

namespace Archestra.Gateway.Mcp;

/// <summary>
/// Session trust across the replicas of one PostgreSQL (<see cref="SharedTaints"/>): a call that the session's taint would
/// decide otherwise first reads whether another replica tainted the session, and a result that taints a session is
/// recorded before the client sees it. When the record cannot be read or written the gateway errs towards untrusted.
/// </summary>
internal sealed partial class McpEndpoint
{
    private async Task DecideWithSharedTrustAsync(
        HttpContext context,
        McpSession session,
        UpstreamEntry server,
        byte[] body,
        int length,
        JsonRpcEnvelope env,
        Slice removeFromName,
        AcceptedTypes accepts,
        ToolCallLabels call,
        string? requestState,
        InvocationDecision trusted,
        InvocationDecision ifTainted,
        SharedTaints shared
    )
    {
        var decision = trusted;
        string? refusal = null;
        try
        {
            if (await TaintedElsewhereAsync(session, shared, call.Policies, context.RequestAborted).ConfigureAwait(false))
            {
                decision = ifTainted;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            Log.SharedTrustFailed(_gateway.Logger, "read", e.GetType().Name, e.Message);
            decision = ifTainted;
            refusal =
                RefusalText(ifTainted, call.Qualified, null)
                + " (whether untrusted data entered this session on another gateway replica could not be read from the database, so the call "
                + "is judged as if it had)";
        }

        await Decide(context, session, server, body, length, env, removeFromName, accepts, call, requestState, decision, refusal).ConfigureAwait(false);
    }

    /// <summary>
    /// Brings a trusted session's view up to date with a taint another replica recorded, for what only shows trust (a
    /// dynamic tools list, <c>archestra__whoami</c>, <c>archestra__explain</c>). A read that fails changes nothing here:
    /// calls are decided by <see cref="DecideWithSharedTrustAsync"/>, which errs towards untrusted.
    /// </summary>
    private async Task RefreshSharedTrustAsync(McpSession? session, ProfilePolicies policies, CancellationToken cancellationToken)
    {
        if (session is null || !session.Trust.IsTrusted || _gateway.State.SharedTaints is not { } shared)
        {
            return;
        }

        try
        {
            await TaintedElsewhereAsync(session, shared, policies, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.SharedTrustFailed(_gateway.Logger, "read", e.GetType().Name, e.Message);
        }
    }

    /// <summary>
    /// Whether a replica recorded a taint of <paramref name="session"/>; a new one is taken into the session here (its list
    /// changes for dynamic tools). Throws when the database cannot tell.
    /// </summary>
    private async Task<bool> TaintedElsewhereAsync(McpSession session, SharedTaints shared, ProfilePolicies policies, CancellationToken cancellationToken)
    {
        if (await shared.FindAsync(session.Digest, cancellationToken).ConfigureAwait(false) is not { } taintedBy)
        {
            return false;
        }

        if (session.ObserveTaintElsewhere(taintedBy))
        {
            Log.SessionTaintedElsewhere(_gateway.Logger, session.Id, taintedBy);
            DynamicTools.OnTainted(session, policies);
        }

        return true;
    }

    /// <summary>
    /// Records for the other replicas that <paramref name="session"/> was just tainted by a result of <paramref name="tool"/>;
    /// false when the database failed, and then the result must not reach the client.
    /// </summary>
    private async Task<bool> ShareTaintAsync(McpSession session, string tool, CancellationToken cancellationToken)
    {
        if (_gateway.State.SharedTaints is not { } shared)
        {
            return true;
        }

        try
        {
            await shared.RecordAsync(session.Digest, tool, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.SharedTrustFailed(_gateway.Logger, "write", e.GetType().Name, e.Message);
            return false;
        }
    }
}
