using System.Globalization;
using System.Text;

namespace Archestra.Policy.Tests;

/// <summary>
/// Dynamic tool lists (<see cref="ProfilePolicies.RefusesEveryCall"/>) against the engine and the reference interpreter, over the
/// same random policy sets: a tool left out of a list is one every call of which the policies refuse in that trust, so a
/// client calling it anyway gets the engine's own refusal; and with no conditions to depend on, a listed tool is one a call
/// of which the policies do not refuse.
/// </summary>
public partial class PropertyTests
{
    private const int ListCases = 2_000;

    [Fact]
    public void A_hidden_tool_is_refused_for_every_call_and_a_listed_unconditional_tool_is_not()
    {
        var seed = Environment.GetEnvironmentVariable("POLICY_SEED") is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : DefaultSeed;
        int hidden = 0,
            listed = 0;
        for (var c = 0; c < ListCases; c++)
        {
            var random = new Random(HashCode.Combine(seed, c, "lists"));
            var set = RandomSet(random);

            // The same set with every condition removed: then one call stands for all of them.
            var unconditional = set with { ToolInvocation = [.. set.ToolInvocation.Select(p => p with { Conditions = [] })] };
            var documents = Enumerable.Range(0, 6).Select(_ => Encoding.UTF8.GetBytes(RandomDocument(random))).Append("{}"u8.ToArray()).ToList();
            var compiled = PolicyFixtures.Compile(set);
            var reference = new ReferenceInterpreter(set);
            var plain = PolicyFixtures.Compile(unconditional);
            foreach (var profile in ProfilesToAsk)
            {
                foreach (var tool in (ReadOnlySpan<string>)[.. Tools, "archestra__x"])
                {
                    foreach (var trusted in (ReadOnlySpan<bool>)[true, false])
                    {
                        var where = $"seed {seed}, case {c}, profile {profile}, tool {tool}, trusted {trusted}";
                        if (compiled.ForProfile(profile).RefusesEveryCall(tool, trusted))
                        {
                            hidden++;
                            foreach (var document in documents)
                            {
                                var engine = compiled.ForProfile(profile).EvaluateInvocation(Encoding.UTF8.GetBytes(tool), document, trusted);
                                var expected = reference.EvaluateInvocation(profile, tool, document, trusted);
                                Assert.True(
                                    engine.Verdict == InvocationVerdict.Block,
                                    $"hidden but {engine} for {Encoding.UTF8.GetString(document)} ({where})"
                                );
                                Assert.Equal((expected.Verdict, expected.PolicyId), (engine.Verdict, engine.PolicyId));
                            }
                        }

                        var refusesAll = plain.ForProfile(profile).RefusesEveryCall(tool, trusted);
                        var decision = plain.ForProfile(profile).EvaluateInvocation(tool, "{}"u8, trusted);
                        Assert.True(
                            refusesAll == (decision.Verdict == InvocationVerdict.Block),
                            $"listed {!refusesAll} but {decision} ({where}, no conditions)"
                        );
                        listed += refusesAll ? 0 : 1;
                    }
                }
            }
        }

        // Both sides of the property were exercised, not just one.
        Assert.True(hidden > 1_000 && listed > 1_000, $"hidden {hidden}, listed {listed}");
    }
}
