using System.Text;
using Archestra.Gateway.Configuration;

namespace Archestra.Gateway.Tests.Configuration;

/// <summary>A profile's <c>toolSelection</c>, <c>builtinTools</c> and <c>dynamicTools</c>: how they are read, refused and matched.</summary>
public sealed class ToolSelectionConfigTests
{
    private static ConfigLoadResult Load(string profile) =>
        ConfigLoader.LoadFromJson("""{"mcpServers": {"a": {"command": "x"}, "b": {"command": "x"}}, "profiles": {"p": """ + profile + "}}", "test.json", _ =>
            null
        );

    [Fact]
    public void A_selection_with_allow_and_deny_patterns_and_the_two_settings_are_read()
    {
        var result = Load(
            """{"servers": ["a", "b"], "toolSelection": {"a": {"allow": ["get_*"], "deny": ["*_secret"]}}, "builtinTools": "only", "dynamicTools": false}"""
        );
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        var profile = result.Config!.Profiles.Single();
        Assert.Equal(["get_*"], profile.ToolSelection["a"].Allow!);
        Assert.Equal(["*_secret"], profile.ToolSelection["a"].Deny);
        Assert.False(profile.ToolSelection.ContainsKey("b"));
        Assert.Equal(BuiltinToolsMode.Only, profile.BuiltinTools);
        Assert.False(profile.DynamicTools);
    }

    [Fact]
    public void Without_the_keys_a_profile_exposes_everything_with_built_ins_and_dynamic_tools_on()
    {
        var profile = Load("""{"servers": ["a"]}""").Config!.Profiles.Single();
        Assert.Empty(profile.ToolSelection);
        Assert.Equal(BuiltinToolsMode.On, profile.BuiltinTools);
        Assert.True(profile.DynamicTools);
    }

    [Theory]
    [InlineData(
        """{"servers": ["a"], "toolSelection": {"b": {"allow": ["x"]}}}""",
        "$.profiles.p.toolSelection.b: server 'b' is not in this profile's servers (a)"
    )]
    [InlineData(
        """{"servers": ["a"], "toolSelection": {"a": {}}}""",
        "$.profiles.p.toolSelection.a: expected allow and/or deny: arrays of tool names, * matching any run of characters (e.g. \"get_*\")"
    )]
    [InlineData(
        """{"servers": ["a"], "toolSelection": {"a": {"allow": "get_*"}}}""",
        "$.profiles.p.toolSelection.a.allow: expected an array of strings, got a string"
    )]
    [InlineData(
        """{"servers": ["a"], "toolSelection": {"a": {"deny": ["ok", ""]}}}""",
        "$.profiles.p.toolSelection.a.deny[1]: expected a tool name of 1-128 characters where * matches any run of characters (no **), got ''"
    )]
    [InlineData(
        """{"servers": ["a"], "toolSelection": {"a": {"deny": ["a**"]}}}""",
        "$.profiles.p.toolSelection.a.deny[0]: expected a tool name of 1-128 characters where * matches any run of characters (no **), got 'a**'"
    )]
    [InlineData("""{"servers": ["a"], "toolSelection": {"a": {"only": []}}}""", "$.profiles.p.toolSelection.a.only: unknown key; expected one of: allow, deny")]
    [InlineData("""{"servers": ["a"], "builtinTools": "some"}""", "$.profiles.p.builtinTools: expected one of on, off, only, got 'some'")]
    [InlineData("""{"servers": ["a"], "dynamicTools": "yes"}""", "$.profiles.p.dynamicTools: expected a boolean, got a string")]
    public void A_bad_selection_or_setting_names_its_path(string profile, string expected)
    {
        var result = Load(profile);
        Assert.False(result.Succeeded);
        Assert.Equal([$"test.json: {expected}"], result.Errors);
    }

    [Theory]
    [InlineData("get_*", "get_issue", true)]
    [InlineData("get_*", "get_", true)]
    [InlineData("get_*", "forget_it", false)]
    [InlineData("*_issue", "get_issue", true)]
    [InlineData("*_issue", "get_issues", false)]
    [InlineData("*code*", "search_code_fast", true)]
    [InlineData("*code*", "search_cod", false)]
    [InlineData("a*b*c", "abc", true)]
    [InlineData("a*b*c", "a-c-b", false)]
    [InlineData("a*a", "a", false)]
    [InlineData("a*a", "aa", true)]
    [InlineData("*", "", true)]
    [InlineData("*", "anything", true)]
    [InlineData("exact", "exact", true)]
    [InlineData("exact", "exactly", false)]
    [InlineData("exact", "inexact", false)]
    [InlineData("日本*", "日本語", true)]
    public void A_pattern_matches_stars_against_any_run_of_characters(string pattern, string name, bool matches)
    {
        var glob = new ToolGlob(pattern);
        Assert.Equal(matches, glob.Matches(Encoding.UTF8.GetBytes(name)));
        Assert.Equal(matches, glob.Matches(name));
    }

    [Fact]
    public void Deny_wins_over_allow_and_without_an_allow_list_everything_else_is_exposed()
    {
        var both = new ToolSelection("gh", new ToolSelectionConfig(["get_*"], ["get_secret*"]));
        Assert.True(both.Exposes("get_issue"u8));
        Assert.False(both.Exposes("get_secret_key"u8));
        Assert.False(both.Exposes("delete_repo"u8));
        Assert.Equal((false, "toolSelection.gh.deny: get_secret*"), both.Explain("get_secret_key"));

        var denyOnly = new ToolSelection("gh", new ToolSelectionConfig(null, ["delete_*"]));
        Assert.True(denyOnly.Exposes("anything"u8));
        Assert.False(denyOnly.Exposes("delete_repo"u8));

        var none = new ToolSelection("gh", new ToolSelectionConfig([], []));
        Assert.False(none.Exposes("get_issue"u8));
    }
}
