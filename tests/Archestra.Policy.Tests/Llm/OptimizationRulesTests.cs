using Archestra.Policy.Llm;

namespace Archestra.Policy.Tests.Llm;

public class OptimizationRulesTests
{
    private static readonly OptimizationRules Rules = OptimizationRules.Create([
        new("off", null, new RuleConditions(), "never", Enabled: false),
        new("p-short", "p", new RuleConditions(MaxInputTokens: 1000, HasTools: false), "gpt-4o-mini"),
        new("global-claude", null, new RuleConditions(RequestedModel: "claude-*-4-5*", MaxInputChars: 20_000), "claude-haiku-4-5"),
        new("q-any-gpt", "q", new RuleConditions(RequestedModel: "gpt-*"), "gpt-5-nano"),
        new("global-exact", null, new RuleConditions(RequestedModel: "gpt-4o"), "gpt-4o-mini"),
    ]);

    public static TheoryData<string, RequestFacts, string?, string?> Cases =>
        new()
        {
            { "p", new RequestFacts("gpt-4o", InputChars: 4000, HasTools: false), "gpt-4o-mini", "p-short" },
            { "p", new RequestFacts("gpt-4o", InputChars: 4001, HasTools: false), "gpt-4o-mini", "global-exact" },
            { "p", new RequestFacts("gpt-4.1", InputChars: 4001, HasTools: false), null, null },
            { "p", new RequestFacts("gpt-4.1", InputChars: 999_999, HasTools: false, InputTokens: 1000), "gpt-4o-mini", "p-short" },
            { "p", new RequestFacts("gpt-4.1", InputChars: 10, HasTools: true), null, null },
            { "p", new RequestFacts("claude-sonnet-4-5-20250929", InputChars: 20_000, HasTools: true), "claude-haiku-4-5", "global-claude" },
            { "p", new RequestFacts("claude-sonnet-4-5", InputChars: 20_001, HasTools: true), null, null },
            { "p", new RequestFacts("claude-4-5", InputChars: 1, HasTools: true), null, null },
            { "q", new RequestFacts("gpt-4o", InputChars: 1, HasTools: true), "gpt-5-nano", "q-any-gpt" },
            { "q", new RequestFacts("claude-opus-4-5", InputChars: 1, HasTools: true), "claude-haiku-4-5", "global-claude" },
            { "r", new RequestFacts("gpt-4o", InputChars: 1, HasTools: false), "gpt-4o-mini", "global-exact" },
            { "r", new RequestFacts("gpt-4o-2024-08-06", InputChars: 1, HasTools: false), null, null },
        };

    [Theory]
    [MemberData(nameof(Cases))]
    public void The_first_matching_enabled_rule_in_definition_order_wins(string profile, RequestFacts facts, string? target, string? ruleId)
    {
        Assert.Equal(target, Rules.Choose(profile, facts, out var matched));
        Assert.Equal(ruleId, matched);
        Assert.Equal(target, Rules.Choose(profile, facts));
    }

    public static TheoryData<string, string, bool> Globs =>
        new()
        {
            { "*", "", true },
            { "*", "anything", true },
            { "gpt-*", "gpt-", true },
            { "gpt-*", "gpt", false },
            { "*-mini", "gpt-4o-mini", true },
            { "a*b*c", "abc", true },
            { "a*b*c", "axxbyyc", true },
            { "a*b*c", "acb", false },
            { "a*a", "a", false },
            { "a**a", "aa", true },
            { "gpt-4o", "gpt-4o-mini", false },
        };

    [Theory]
    [MemberData(nameof(Globs))]
    public void Requested_model_globs_match_star_as_any_run(string pattern, string model, bool matches) =>
        Assert.Equal(
            matches,
            OptimizationRules.Create([new("r", null, new RuleConditions(RequestedModel: pattern), "t")]).Choose("p", new RequestFacts(model, 0, false))
                is not null
        );

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 1)]
    [InlineData(4, 1)]
    [InlineData(5, 2)]
    [InlineData(4000, 1000)]
    [InlineData(-3, 0)]
    public void Token_estimate_is_four_chars_per_token_rounded_up(int chars, int tokens)
    {
        Assert.Equal(tokens, TokenEstimate.FromChars(chars));
        Assert.Equal(tokens, TokenEstimate.FromChars((long)chars));
    }

    [Fact]
    public void Invalid_rules_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => OptimizationRules.Create([new("r", null, new RuleConditions(), "")]));
        Assert.Throws<ArgumentException>(() => OptimizationRules.Create([new("r", null, new RuleConditions(MaxInputTokens: -1), "t")]));
    }
}
