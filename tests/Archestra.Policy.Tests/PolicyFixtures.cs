using System.Text;

namespace Archestra.Policy.Tests;

/// <summary>Short constructors for policy sets: one profile "default" exposing fs, mail and web unless told otherwise.</summary>
internal static class PolicyFixtures
{
    public const string Profile = "default";

    public static PolicyCondition When(string key, string op, string value) => new(key, op, value);

    public static PolicyDefinition Def(string id, string tool, string action, params PolicyCondition[] conditions) => new(id, tool, conditions, action, "", []);

    public static ProfilePolicyInput DefaultProfile(IReadOnlyDictionary<string, ToolSettings>? tools = null) =>
        new(Profile, ["fs", "mail", "web"], tools ?? new Dictionary<string, ToolSettings>());

    public static PolicySetDefinition Set(
        IReadOnlyList<PolicyDefinition>? invocation = null,
        IReadOnlyList<PolicyDefinition>? data = null,
        params ProfilePolicyInput[] profiles
    ) => new(invocation ?? [], data ?? [], profiles.Length == 0 ? [DefaultProfile()] : profiles);

    public static PolicySnapshot Compile(PolicySetDefinition set)
    {
        var result = PolicyCompiler.Compile(set);
        Assert.True(result.Succeeded, string.Join('\n', result.Errors));
        Assert.Empty(result.Errors);
        return result.Snapshot;
    }

    public static ProfilePolicies Invocation(params PolicyDefinition[] policies) => Compile(Set(invocation: policies)).ForProfile(Profile);

    public static ProfilePolicies Data(params PolicyDefinition[] policies) => Compile(Set(data: policies)).ForProfile(Profile);

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>Checks the compiled engine against the reference interpreter and the UTF-8 overload against the string one.</summary>
    public static InvocationDecision Invoke(PolicySetDefinition set, string tool, string json, bool trusted, string profile = Profile)
    {
        var policies = Compile(set).ForProfile(profile);
        var bytes = Utf8(json);
        var decision = policies.EvaluateInvocation(tool, bytes, trusted);
        var viaUtf8 = policies.EvaluateInvocation(Utf8(tool), bytes, trusted);
        Assert.Equal(decision, viaUtf8);
        var reference = new ReferenceInterpreter(set).EvaluateInvocation(profile, tool, bytes, trusted);
        Assert.Equal((reference.Verdict, reference.Source, reference.PolicyId), (decision.Verdict, decision.Source, decision.PolicyId));
        return decision;
    }

    public static ResultDecision Result(PolicySetDefinition set, string tool, string json, string profile = Profile)
    {
        var policies = Compile(set).ForProfile(profile);
        var bytes = Utf8(json);
        var decision = policies.EvaluateResult(tool, bytes);
        Assert.Equal(decision, policies.EvaluateResult(Utf8(tool), bytes));
        var reference = new ReferenceInterpreter(set).EvaluateResult(profile, tool, bytes);
        Assert.Equal((reference.Verdict, reference.Source, reference.PolicyId), (decision.Verdict, decision.Source, decision.PolicyId));
        return decision;
    }
}
