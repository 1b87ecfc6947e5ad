using Archestra.Policy;

namespace Archestra.Gateway.Core;

/// <summary>How policy decisions are named to people and models: the evaluation API, <c>archestra__explain</c> and <c>archestra__whoami</c>.</summary>
internal static class DecisionNames
{
    public static string Verdict(InvocationVerdict verdict) =>
        verdict switch
        {
            InvocationVerdict.Block => "block",
            InvocationVerdict.RequireApproval => "require_approval",
            _ => "allow",
        };

    public static string Source(DecisionSource source) =>
        source switch
        {
            DecisionSource.Policy => "policy",
            DecisionSource.BuiltIn => "built_in",
            DecisionSource.TrustedContext => "trusted_context",
            _ => "settings",
        };
}
