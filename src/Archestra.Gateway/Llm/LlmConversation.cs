using System.Buffers;
using Archestra.Gateway.Llm.Dialects;
using Archestra.Policy;

namespace Archestra.Gateway.Llm;

/// <summary>One tool result of the request and how the trusted-data policies decided it.</summary>
internal readonly record struct LlmEvaluatedResult(LlmToolResult Result, ResultDecision Decision);

/// <summary>
/// The trust of one LLM request's conversation: each tool result in its history is evaluated by the profile's
/// trusted-data policies, and one result that taints makes the whole conversation untrusted (the same rule as an
/// MCP session). Later stages may change a result's decision (after rewriting it) by replacing it in
/// <see cref="Results"/>; trust is computed from the list whenever it is asked for.
/// </summary>
internal sealed class LlmConversation
{
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? s_document;

    private LlmConversation(ProfilePolicies policies, List<LlmEvaluatedResult> results)
    {
        Policies = policies;
        Results = results;
    }

    /// <summary>The profile's policies, read once for the whole request.</summary>
    public ProfilePolicies Policies { get; }

    /// <summary>The tool results in history order, each with its decision.</summary>
    public List<LlmEvaluatedResult> Results { get; }

    /// <summary>The first result that made the conversation untrusted; null while it is trusted.</summary>
    public LlmEvaluatedResult? TaintedBy
    {
        get
        {
            foreach (var result in Results)
            {
                if (result.Decision.TaintsContext)
                {
                    return result;
                }
            }

            return null;
        }
    }

    public bool IsTrusted => TaintedBy is null;

    /// <summary>Reads and evaluates the tool results of <paramref name="body"/>; false with a message when the history is malformed.</summary>
    public static bool TryEvaluate(ProfilePolicies policies, LlmDialect dialect, ReadOnlySpan<byte> body, out LlmConversation conversation, out string? error)
    {
        var results = new List<LlmToolResult>();
        var evaluated = new List<LlmEvaluatedResult>();
        conversation = new LlmConversation(policies, evaluated);
        if (!LlmHistory.TryRead(dialect, body, results, out error))
        {
            return false;
        }

        if (results.Count == 0)
        {
            return true;
        }

        var document = s_document ??= new ArrayBufferWriter<byte>(4096);
        foreach (var result in results)
        {
            document.ResetWrittenCount();
            LlmHistory.WritePolicyDocument(body, result, document);
            evaluated.Add(new LlmEvaluatedResult(result, policies.EvaluateResult(result.Tool, document.WrittenSpan)));
        }

        // A large result must not keep a large buffer alive on this thread.
        if (document.Capacity > 1024 * 1024)
        {
            s_document = null;
        }

        return true;
    }

    /// <summary>Why the conversation is untrusted, for refusal texts; null while trusted.</summary>
    public string? UntrustedBecause()
    {
        if (TaintedBy is not { } taint)
        {
            return null;
        }

        var tool = taint.Result.Tool.Length > 0 ? $"a result of {taint.Result.Tool}" : $"the result with the unknown call id '{taint.Result.CallId}'";
        var why = taint.Decision.Source == DecisionSource.Policy ? $"policy {taint.Decision.PolicyId}: {taint.Decision.Reason}" : taint.Decision.Reason;
        return $"{tool} made this conversation untrusted ({why})";
    }
}
