namespace Archestra.Policy.Tests;

public class ContextTrustTests
{
    public static TheoryData<ResultVerdict[], bool> Sequences =>
        new()
        {
            { [], true },
            { [ResultVerdict.Trusted], true },
            { [ResultVerdict.Block], true },
            { [ResultVerdict.Untrusted], false },
            { [ResultVerdict.SanitizeWithDualLlm], false },
            { [ResultVerdict.Untrusted, ResultVerdict.Trusted], false },
            { [ResultVerdict.Trusted, ResultVerdict.Block, ResultVerdict.SanitizeWithDualLlm, ResultVerdict.Trusted], false },
        };

    [Theory]
    [MemberData(nameof(Sequences))]
    public void A_context_starts_trusted_and_once_untrusted_stays_so(ResultVerdict[] results, bool trusted)
    {
        var context = new ContextTrust();
        foreach (var verdict in results)
        {
            context.Observe(new ResultDecision(verdict, DecisionSource.Policy, "p", ""));
        }

        Assert.Equal(trusted, context.IsTrusted);
    }

    [Fact]
    public void MarkUntrusted_is_final()
    {
        var context = new ContextTrust();
        context.MarkUntrusted();
        context.Observe(new ResultDecision(ResultVerdict.Trusted, DecisionSource.Policy, "p", ""));
        Assert.False(context.IsTrusted);
    }

    [Fact]
    public void Concurrent_observers_agree()
    {
        var context = new ContextTrust();
        Parallel.For(0, 1000, i =>
            context.Observe(new ResultDecision(i == 777 ? ResultVerdict.Untrusted : ResultVerdict.Trusted, DecisionSource.Default, null, ""))
        );
        Assert.False(context.IsTrusted);
    }

    [Fact]
    public void A_session_flow_blocks_a_tool_after_an_untrusted_result()
    {
        var set = PolicyFixtures.Set(
            [PolicyFixtures.Def("no-exfil", "mail__send", "block_when_context_is_untrusted")],
            [PolicyFixtures.Def("web-untrusted", "web__fetch", "mark_as_untrusted")]
        );
        var policies = PolicyFixtures.Compile(set).ForProfile(PolicyFixtures.Profile);
        var context = new ContextTrust();
        Assert.True(policies.EvaluateInvocation("mail__send", "{}"u8, context.IsTrusted).IsAllowed);
        context.Observe(policies.EvaluateResult("web__fetch", """{"content":[]}"""u8));
        var decision = policies.EvaluateInvocation("mail__send", "{}"u8, context.IsTrusted);
        Assert.Equal((InvocationVerdict.Block, "no-exfil"), (decision.Verdict, decision.PolicyId));
    }
}
