namespace Archestra.Policy;

/// <summary>How a tool's result affects the trust of the context that receives it.</summary>
public enum ResultTreatment
{
    Untrusted,
    Trusted,
    SanitizeWithDualLlm,
}

/// <summary>Per-tool defaults, applied when no policy decides.</summary>
public sealed record ToolSettings(bool AllowUsageWhenUntrustedDataIsPresent = false, ResultTreatment ResultTreatment = ResultTreatment.Untrusted);

/// <summary>One condition as written in the configuration; validated and compiled by <see cref="PolicyCompiler"/>.</summary>
public sealed record PolicyCondition(string Key, string Operator, string Value);

/// <summary>A policy as written (config file or admin API). <see cref="Action"/> and the operators stay strings here so
/// that the compiler, not the reader, owns validation and names the policy and field when one is wrong.</summary>
/// <param name="Tool">The namespaced tool, <c>{server}__{tool}</c>.</param>
/// <param name="Profiles">Profiles the policy applies to; empty means every profile that exposes the tool's server.</param>
public sealed record PolicyDefinition(
    string Id,
    string Tool,
    IReadOnlyList<PolicyCondition> Conditions,
    string Action,
    string Reason,
    IReadOnlyList<string> Profiles
);

/// <summary>Everything the compiler needs for one profile.</summary>
/// <param name="Servers">Names of the servers the profile exposes; a policy or setting naming another server is refused.</param>
/// <param name="Tools">Per-tool defaults keyed by namespaced tool name.</param>
/// <param name="AgentTools">The profile also judges tool calls that agents send through the LLM proxy, whose tools
/// are the agents' own: any tool name is accepted for it, and policies that name no profiles apply to it.</param>
public sealed record ProfilePolicyInput(
    string Profile,
    IReadOnlyCollection<string> Servers,
    IReadOnlyDictionary<string, ToolSettings> Tools,
    bool AgentTools = false
);

/// <summary>The whole policy configuration: tool-invocation and trusted-data policies plus every profile's defaults.</summary>
public sealed record PolicySetDefinition(
    IReadOnlyList<PolicyDefinition> ToolInvocation,
    IReadOnlyList<PolicyDefinition> TrustedData,
    IReadOnlyList<ProfilePolicyInput> Profiles
);

/// <summary>A compile error: the policy id (or profile/tool for settings), the field, and what is wrong.</summary>
public sealed record PolicyError(string Subject, string Field, string Message)
{
    public override string ToString() => $"{Subject}: {Field}: {Message}";
}

public enum InvocationVerdict : byte
{
    Allow,
    Block,
    RequireApproval,
}

/// <summary>Which kind of rule produced a decision.</summary>
public enum DecisionSource : byte
{
    /// <summary>An Archestra built-in tool (<c>archestra__*</c>): trusted, never evaluated.</summary>
    BuiltIn,

    /// <summary>A policy matched; <c>PolicyId</c> names it.</summary>
    Policy,

    /// <summary>The context is trusted and no block rule matched.</summary>
    TrustedContext,

    /// <summary>The tool's default setting decided.</summary>
    Default,
}

/// <summary>The decision about one tool call. Allocation-free: the strings are the compiled snapshot's own.</summary>
public readonly record struct InvocationDecision(InvocationVerdict Verdict, DecisionSource Source, string? PolicyId, string Reason)
{
    public bool IsAllowed => Verdict == InvocationVerdict.Allow;
}

public enum ResultVerdict : byte
{
    Trusted,
    Untrusted,
    Block,
    SanitizeWithDualLlm,
}

/// <summary>The decision about one tool result.</summary>
public readonly record struct ResultDecision(ResultVerdict Verdict, DecisionSource Source, string? PolicyId, string Reason)
{
    /// <summary>Whether the context that receives this result becomes untrusted.</summary>
    public bool TaintsContext => Verdict is ResultVerdict.Untrusted or ResultVerdict.SanitizeWithDualLlm;

    /// <summary>What a client or model reads in place of a withheld result of <paramref name="tool"/>, on the MCP and the LLM path alike.</summary>
    public string RefusalText(string tool) =>
        Source == DecisionSource.Policy
            ? $"The result of {tool} was withheld: blocked by policy {PolicyId}: {Reason}"
            : $"The result of {tool} was withheld: {Reason}";
}
