using static Archestra.Policy.Tests.PolicyFixtures;

namespace Archestra.Policy.Tests;

/// <summary>
/// Profiles with <see cref="ProfilePolicyInput.AgentTools"/> (an LLM section): the agent names its own tools, so any
/// name is accepted for them and policies that name no profile apply to them as well.
/// </summary>
public sealed class AgentToolsTests
{
    private const string Agent = "agent";

    private static ProfilePolicyInput AgentProfile(Dictionary<string, ToolSettings>? tools = null) => new(Agent, [], tools ?? [], AgentTools: true);

    [Fact]
    public void A_policy_on_an_agents_own_tool_compiles_and_decides_only_for_agent_profiles()
    {
        var set = Set(
            invocation: [Def("no-delete", "delete_repo", "block_always", When("repo", "startsWith", "prod-"))],
            profiles: [DefaultProfile(), AgentProfile()]
        );

        var refused = Invoke(set, "delete_repo", """{"repo":"prod-db"}""", trusted: true, profile: Agent);
        Assert.Equal((InvocationVerdict.Block, "no-delete"), (refused.Verdict, refused.PolicyId));
        Assert.Equal(InvocationVerdict.Allow, Invoke(set, "delete_repo", """{"repo":"scratch"}""", trusted: true, profile: Agent).Verdict);

        // The MCP-only profile never sees the policy: there the name is just an unknown tool.
        Assert.Equal(DecisionSource.TrustedContext, Invoke(set, "delete_repo", """{"repo":"prod-db"}""", trusted: true).Source);
    }

    [Fact]
    public void A_policy_on_a_server_no_profile_exposes_applies_to_agent_profiles()
    {
        var set = Set(data: [Def("crm-trusted", "crm__lookup", "mark_as_trusted")], profiles: [DefaultProfile(), AgentProfile()]);

        Assert.Equal(
            (ResultVerdict.Trusted, "crm-trusted"),
            (Result(set, "crm__lookup", "{}", Agent).Verdict, Result(set, "crm__lookup", "{}", Agent).PolicyId)
        );
    }

    [Fact]
    public void An_unnamed_policy_on_an_mcp_tool_applies_to_agent_profiles_too()
    {
        // Agents that use the MCP gateway's tools call them by their namespaced names through the LLM proxy.
        var set = Set(invocation: [Def("no-wire", "mail__send", "block_always")], profiles: [DefaultProfile(), AgentProfile()]);

        Assert.Equal("no-wire", Invoke(set, "mail__send", "{}", trusted: true, profile: Agent).PolicyId);
        Assert.Equal("no-wire", Invoke(set, "mail__send", "{}", trusted: true).PolicyId);
    }

    [Fact]
    public void Settings_of_an_agents_own_tools_are_accepted_on_agent_profiles()
    {
        var set = Set(
            profiles:
            [
                AgentProfile(
                    new()
                    {
                        ["read_docs"] = new(ResultTreatment: ResultTreatment.Trusted),
                        ["crm__*"] = new(ResultTreatment: ResultTreatment.Trusted),
                        ["*"] = new(AllowUsageWhenUntrustedDataIsPresent: true),
                    }
                ),
            ]
        );

        Assert.Equal(ResultVerdict.Trusted, Result(set, "read_docs", "{}", Agent).Verdict);
        Assert.Equal(ResultVerdict.Trusted, Result(set, "crm__lookup", "{}", Agent).Verdict);
        Assert.Equal(ResultVerdict.Untrusted, Result(set, "fetch_page", "{}", Agent).Verdict);
        Assert.Equal(InvocationVerdict.Allow, Invoke(set, "fetch_page", "{}", trusted: false, profile: Agent).Verdict);
    }

    [Fact]
    public void Without_an_agent_profile_a_plain_tool_name_is_refused_with_a_hint()
    {
        var result = PolicyCompiler.Compile(Set(invocation: [Def("no-delete", "delete_repo", "block_always")]));

        Assert.Equal(
            [
                new PolicyError(
                    "policy \"no-delete\"",
                    "tool",
                    "\"delete_repo\" is not of the form {server}__{tool} (the names of agents' own tools are accepted only when a profile has an llm section)"
                ),
            ],
            result.Errors
        );
    }

    [Fact]
    public void A_policy_naming_only_mcp_profiles_still_needs_their_servers()
    {
        var result = PolicyCompiler.Compile(
            Set(invocation: [new PolicyDefinition("p", "delete_repo", [], "block_always", "", [Profile])], profiles: [DefaultProfile(), AgentProfile()])
        );
        Assert.Equal([new PolicyError("policy \"p\"", "tool", "\"delete_repo\" is not of the form {server}__{tool}")], result.Errors);

        var wrongServer = PolicyCompiler.Compile(
            Set(invocation: [new PolicyDefinition("q", "crm__lookup", [], "block_always", "", [Profile])], profiles: [DefaultProfile(), AgentProfile()])
        );
        Assert.Equal([new PolicyError("policy \"q\"", "profiles[0]", "profile \"default\" does not expose server \"crm\"")], wrongServer.Errors);
    }

    [Fact]
    public void Wildcards_and_built_ins_stay_refused_on_agent_profiles()
    {
        var result = PolicyCompiler.Compile(
            Set(invocation: [Def("w", "crm__*", "block_always"), Def("b", "archestra__whoami", "block_always")], profiles: [AgentProfile()])
        );

        Assert.Equal(2, result.Errors.Count);
        Assert.Equal("\"crm__*\": a policy names one tool; wildcards are only for tool settings", result.Errors[0].Message);
        Assert.StartsWith("\"archestra__whoami\" is an Archestra built-in tool", result.Errors[1].Message, StringComparison.Ordinal);
    }
}
