using System.Text.RegularExpressions;
using static Archestra.Policy.Tests.PolicyFixtures;

namespace Archestra.Policy.Tests;

public class CompileErrorTests
{
    private const string Unsupported =
        "uses a construct the non-backtracking engine cannot run (backreferences, lookarounds, atomic groups, conditionals); rewrite it without them";

    private const string InvocationActions = "allow_when_context_is_untrusted, block_when_context_is_untrusted, block_always, require_approval";

    private static void AssertErrors(PolicySetDefinition set, params PolicyError[] expected)
    {
        var result = PolicyCompiler.Compile(set);
        Assert.False(result.Succeeded);
        Assert.Null(result.Snapshot);
        Assert.Equal(expected, result.Errors);
    }

    [Theory]
    [InlineData("", "the key path is empty")]
    [InlineData(".a", "empty property name at position 0")]
    [InlineData("a..b", "empty property name at position 2")]
    [InlineData("a.", "empty property name at position 2")]
    [InlineData("[0]", "empty property name at position 0")]
    [InlineData("a[", "unbalanced '[' at position 1")]
    [InlineData("a[*", "unbalanced '[' at position 1")]
    [InlineData("a]", "unbalanced ']' at position 1")]
    [InlineData("a[0]]", "unbalanced ']' at position 4")]
    [InlineData("a[x]", "index \"x\" at position 1 is neither * nor a non-negative integer")]
    [InlineData("a[]", "index \"\" at position 1 is neither * nor a non-negative integer")]
    [InlineData("a[-1]", "index \"-1\" at position 1 is neither * nor a non-negative integer")]
    [InlineData("a[1.5]", "index \"1.5\" at position 1 is neither * nor a non-negative integer")]
    [InlineData("a[99999999999]", "index \"99999999999\" at position 1 is neither * nor a non-negative integer")]
    [InlineData("a[0]b", "expected '.' or '[' at position 4")]
    public void A_key_path_that_does_not_parse_is_named(string key, string detail)
    {
        AssertErrors(
            Set([Def("p", "fs__write", "block_always", When("path", "equal", "x"), When(key, "equal", "x"))]),
            new PolicyError("policy \"p\"", "conditions[1].key", $"invalid key path \"{key}\": {detail}")
        );
    }

    [Theory]
    [InlineData("matches")]
    [InlineData("Equal")]
    [InlineData("")]
    public void An_unknown_operator_is_named(string op)
    {
        AssertErrors(
            Set([Def("no-exfil", "mail__send", "block_always", When("to[*]", "endsWith", "@corp.example"), When("body", op, "x"))]),
            new PolicyError(
                "policy \"no-exfil\"",
                "conditions[1].operator",
                $"unknown operator \"{op}\"; expected one of equal, notEqual, contains, notContains, startsWith, endsWith, regex"
            )
        );
    }

    [Theory]
    [InlineData("mark_as_trusted")]
    [InlineData("block")]
    [InlineData("BLOCK_ALWAYS")]
    public void An_invocation_action_must_be_one_of_the_invocation_actions(string action)
    {
        AssertErrors(
            Set([Def("p", "fs__write", action)]),
            new PolicyError("policy \"p\"", "action", $"unknown action \"{action}\"; expected one of {InvocationActions}")
        );
    }

    [Theory]
    [InlineData("require_approval")]
    [InlineData("allow_when_context_is_untrusted")]
    public void A_trusted_data_action_must_be_one_of_the_trusted_data_actions(string action)
    {
        AssertErrors(
            Set(data: [Def("p", "fs__read", action)]),
            new PolicyError(
                "policy \"p\"",
                "action",
                $"unknown action \"{action}\"; expected one of mark_as_trusted, mark_as_untrusted, block_always, sanitize_with_dual_llm"
            )
        );
    }

    [Theory]
    [InlineData("(", "insufficient closing parentheses at offset 1")]
    [InlineData("[a-", "unterminated bracket at offset 3")]
    [InlineData("a{2,1}", "reversed quantifier range at offset 6")]
    public void An_invalid_regex_is_named(string pattern, string problem)
    {
        AssertErrors(
            Set([Def("p", "fs__write", "block_always", When("path", "regex", pattern))]),
            new PolicyError("policy \"p\"", "conditions[0].value", $"invalid regex \"{pattern}\": {problem}")
        );
    }

    [Theory]
    [InlineData(@"(a)\1")]
    [InlineData("(?=secret)")]
    [InlineData("(?<!x)y")]
    [InlineData("(?>a+)")]
    public void A_regex_the_non_backtracking_engine_refuses_is_named(string pattern)
    {
        Assert.Throws<NotSupportedException>(() => new Regex(pattern, RegexOptions.NonBacktracking));
        AssertErrors(
            Set([Def("p", "fs__write", "block_always", When("path", "regex", pattern))]),
            new PolicyError("policy \"p\"", "conditions[0].value", $"regex \"{pattern}\" {Unsupported}")
        );
    }

    [Theory]
    [InlineData("fswrite", Hint)]
    [InlineData("__write", "")]
    [InlineData("fs__", "")]
    [InlineData("fs_write", Hint)]
    [InlineData("", "")]
    public void A_tool_must_be_namespaced(string tool, string hint)
    {
        AssertErrors(
            Set([Def("p", tool, "block_always")]),
            new PolicyError("policy \"p\"", "tool", $"\"{tool}\" is not of the form {{server}}__{{tool}}{hint}")
        );
    }

    /// <summary>Added where the name looks like an agent's own tool (see <see cref="AgentToolsTests"/>).</summary>
    private const string Hint = " (the names of agents' own tools are accepted only when a profile has an llm section)";

    [Fact]
    public void A_built_in_tool_takes_no_policies()
    {
        AssertErrors(
            Set([Def("p", "archestra__whoami", "block_always")]),
            new PolicyError(
                "policy \"p\"",
                "tool",
                "\"archestra__whoami\" is an Archestra built-in tool: always allowed and trusted, it takes no policies or settings"
            )
        );
    }

    [Fact]
    public void A_server_no_profile_exposes_is_unknown()
    {
        AssertErrors(
            Set(data: [Def("p", "db__query", "mark_as_trusted")]),
            new PolicyError("policy \"p\"", "tool", "unknown server \"db\": no profile exposes it")
        );
    }

    [Fact]
    public void Named_profiles_must_exist_and_expose_the_server()
    {
        var profiles = new[] { DefaultProfile(), new ProfilePolicyInput("readonly", ["web"], new Dictionary<string, ToolSettings>()) };
        AssertErrors(
            Set([new PolicyDefinition("p", "fs__write", [], "block_always", "", ["default", "ghost", "readonly"])], null, profiles),
            new PolicyError("policy \"p\"", "profiles[1]", "unknown profile \"ghost\""),
            new PolicyError("policy \"p\"", "profiles[2]", "profile \"readonly\" does not expose server \"fs\"")
        );
    }

    [Fact]
    public void Ids_are_required_and_unique_across_both_lists()
    {
        AssertErrors(
            Set(
                [Def("", "fs__write", "block_always"), Def("a", "fs__write", "block_always"), Def("a", "fs__read", "block_always")],
                [Def("a", "fs__read", "mark_as_trusted"), Def("", "fs__read", "mark_as_trusted")]
            ),
            new PolicyError("toolInvocation[0]", "id", "the id is empty"),
            new PolicyError("policy \"a\"", "id", "duplicate id \"a\"; already used by toolInvocation[1]"),
            new PolicyError("policy \"a\"", "id", "duplicate id \"a\"; already used by toolInvocation[1]"),
            new PolicyError("trustedData[1]", "id", "the id is empty")
        );
    }

    [Fact]
    public void Profiles_and_their_tool_settings_are_validated()
    {
        var settings = new Dictionary<string, ToolSettings>
        {
            ["fs__write"] = new(),
            ["fswrite"] = new(),
            ["db__query"] = new(),
            ["archestra__whoami"] = new(),
        };
        AssertErrors(
            new PolicySetDefinition(
                [],
                [],
                [
                    new ProfilePolicyInput("", ["fs"], new Dictionary<string, ToolSettings>()),
                    new ProfilePolicyInput("dev", ["fs"], settings),
                    new ProfilePolicyInput("dev", ["web"], new Dictionary<string, ToolSettings>()),
                ]
            ),
            new PolicyError("profiles[0]", "profile", "the profile name is empty"),
            new PolicyError("profile \"dev\"", "tools[\"fswrite\"]", "\"fswrite\" is not of the form {server}__{tool}"),
            new PolicyError("profile \"dev\"", "tools[\"db__query\"]", "server \"db\" is not exposed by profile \"dev\""),
            new PolicyError(
                "profile \"dev\"",
                "tools[\"archestra__whoami\"]",
                "\"archestra__whoami\" is an Archestra built-in tool: always allowed and trusted, it takes no policies or settings"
            ),
            new PolicyError("profile \"dev\"", "profile", "duplicate profile \"dev\"")
        );
    }

    [Fact]
    public void Every_error_of_every_policy_is_reported_and_no_snapshot_is_made()
    {
        AssertErrors(
            Set([
                Def("ok", "fs__write", "block_always", When("path", "equal", "x")),
                Def("bad", "nope", "explode", When("a..b", "like", "x"), When("c", "regex", "(?=x)")),
            ]),
            new PolicyError("policy \"bad\"", "tool", "\"nope\" is not of the form {server}__{tool}" + Hint),
            new PolicyError("policy \"bad\"", "action", $"unknown action \"explode\"; expected one of {InvocationActions}"),
            new PolicyError("policy \"bad\"", "conditions[0].key", "invalid key path \"a..b\": empty property name at position 2"),
            new PolicyError(
                "policy \"bad\"",
                "conditions[0].operator",
                "unknown operator \"like\"; expected one of equal, notEqual, contains, notContains, startsWith, endsWith, regex"
            ),
            new PolicyError("policy \"bad\"", "conditions[1].value", $"regex \"(?=x)\" {Unsupported}")
        );
    }

    [Fact]
    public void An_error_names_the_field_and_policy_as_text()
    {
        Assert.Equal("policy \"p\": action: x", new PolicyError("policy \"p\"", "action", "x").ToString());
    }

    [Fact]
    public void A_valid_set_with_an_empty_reason_compiles()
    {
        var result = PolicyCompiler.Compile(Set([Def("p", "fs__write", "block_always")]));
        Assert.True(result.Succeeded);
        Assert.Empty(result.Errors);
        Assert.Equal(1, result.Snapshot.PolicyCount);
    }
}
