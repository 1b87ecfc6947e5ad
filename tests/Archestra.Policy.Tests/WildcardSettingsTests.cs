using static Archestra.Policy.Tests.PolicyFixtures;

namespace Archestra.Policy.Tests;

/// <summary>Tool settings keyed <c>{server}__*</c> and <c>*</c>: the most specific key applies.</summary>
public sealed class WildcardSettingsTests
{
    private static readonly ToolSettings Trusted = new(ResultTreatment: ResultTreatment.Trusted);
    private static readonly ToolSettings Usable = new(AllowUsageWhenUntrustedDataIsPresent: true);

    private static PolicySetDefinition WithSettings(Dictionary<string, ToolSettings> tools, params PolicyDefinition[] invocation) =>
        Set(invocation: invocation, profiles: DefaultProfile(tools));

    [Theory]
    [InlineData("web__fetch", ResultVerdict.Trusted)] // "web__*"
    [InlineData("web__search", ResultVerdict.Untrusted)] // its own setting beats "web__*"
    [InlineData("fs__read", ResultVerdict.Untrusted)] // "*" (usable, results untrusted)
    public void A_result_takes_the_most_specific_setting(string tool, ResultVerdict expected)
    {
        var set = WithSettings(
            new()
            {
                ["web__*"] = Trusted,
                ["web__search"] = new ToolSettings(ResultTreatment: ResultTreatment.Untrusted),
                ["*"] = Usable,
            }
        );
        var decision = Result(set, tool, """{"content":[]}""");
        Assert.Equal(expected, decision.Verdict);
        Assert.Equal(DecisionSource.Default, decision.Source);
    }

    [Theory]
    [InlineData("mail__send", InvocationVerdict.Block)] // "mail__*" forbids, beating "*"
    [InlineData("fs__read", InvocationVerdict.Allow)] // "*" allows
    [InlineData("web__fetch", InvocationVerdict.Allow)] // "*" allows
    public void In_an_untrusted_context_the_most_specific_setting_decides(string tool, InvocationVerdict expected)
    {
        var set = WithSettings(new() { ["mail__*"] = new ToolSettings(), ["*"] = Usable });
        Assert.Equal(expected, Invoke(set, tool, "{}", trusted: false).Verdict);
    }

    [Fact]
    public void A_tool_with_policies_but_no_setting_of_its_own_takes_its_servers_setting()
    {
        var set = WithSettings(new() { ["mail__*"] = Usable }, Def("p", "mail__send", "block_when_context_is_untrusted", When("to", "equal", "x@evil.test")));
        Assert.Equal(InvocationVerdict.Block, Invoke(set, "mail__send", """{"to":"x@evil.test"}""", trusted: false).Verdict);
        var other = Invoke(set, "mail__send", """{"to":"me@example.com"}""", trusted: false);
        Assert.Equal((InvocationVerdict.Allow, DecisionSource.Default), (other.Verdict, other.Source));
    }

    [Fact]
    public void A_wildcard_for_a_server_the_profile_does_not_have_is_refused()
    {
        var result = PolicyCompiler.Compile(WithSettings(new() { ["db__*"] = Trusted }));
        var error = Assert.Single(result.Errors);
        Assert.Equal("tools[\"db__*\"]", error.Field);
        Assert.Contains("\"db\"", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_policy_cannot_name_a_wildcard()
    {
        var result = PolicyCompiler.Compile(Set(invocation: [Def("w", "web__*", "block_always")]));
        var error = Assert.Single(result.Errors);
        Assert.Equal(("policy \"w\"", "tool"), (error.Subject, error.Field));
        Assert.Contains("wildcards are only for tool settings", error.Message, StringComparison.Ordinal);
    }
}
