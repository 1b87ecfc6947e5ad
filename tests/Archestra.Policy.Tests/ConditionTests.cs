using static Archestra.Policy.Tests.PolicyFixtures;

namespace Archestra.Policy.Tests;

public class ConditionTests
{
    private static readonly string LongEscaped = new string('a', 300) + "\\u00e9";
    private static readonly string LongValue = new string('a', 300) + "é";

    public static TheoryData<string, string, string, bool> Operators =>
        new()
        {
            { "equal", "a.txt", """{"path":"a.txt"}""", true },
            { "equal", "a.txt", """{"path":"a.txtx"}""", false },
            { "equal", "a.txt", """{"path":"A.TXT"}""", false },
            { "equal", "", """{"path":""}""", true },
            { "notEqual", "a.txt", """{"path":"b.txt"}""", true },
            { "notEqual", "a.txt", """{"path":"a.txt"}""", false },
            { "notEqual", "a.txt", """{}""", false },
            { "contains", "secret", """{"path":"/x/secret/y"}""", true },
            { "contains", "secret", """{"path":"/x/SECRET/y"}""", false },
            { "contains", "", """{"path":"x"}""", true },
            { "notContains", "secret", """{"path":"/x/y"}""", true },
            { "notContains", "secret", """{"path":"/secret"}""", false },
            { "notContains", "secret", """{"other":"x"}""", false },
            { "startsWith", "/etc", """{"path":"/etc/passwd"}""", true },
            { "startsWith", "/etc", """{"path":"/home/etc"}""", false },
            { "endsWith", ".env", """{"path":"/app/.env"}""", true },
            { "endsWith", ".env", """{"path":"/app/.env.bak"}""", false },
            { "regex", "^/etc/(passwd|shadow)$", """{"path":"/etc/shadow"}""", true },
            { "regex", "^/etc/(passwd|shadow)$", """{"path":"/etc/hosts"}""", false },
            { "regex", @"\d{3}", """{"path":"abc123def"}""", true },
            { "regex", "^a+é$", $$"""{"path":"{{LongEscaped}}"}""", true },
            { "regex", "^/etc/", """{"path":"/etc/x"}""", true },
            { "regex", "^/etc/", """{"path":"/et"}""", false },
            { "regex", "^/etc/|passwd", """{"path":"x passwd"}""", true },
            { "regex", "^ab?c", """{"path":"ac"}""", true },
            { "regex", "^ab*c", """{"path":"ac"}""", true },
            { "regex", "^ab{0}c", """{"path":"ac"}""", true },
            { "regex", @"^a\.b", """{"path":"a.b"}""", true },
            { "regex", @"^a\.b", """{"path":"axb"}""", false },
            { "regex", "^[|]x|y", """{"path":"y"}""", true },
            { "regex", "^(a|b)c", """{"path":"bc"}""", true },
            { "regex", "^x(?i)abc", """{"path":"xABC"}""", true },
        };

    public static TheoryData<string, string, string, bool> Scalars =>
        new()
        {
            { "equal", "10", """{"path":10}""", true },
            { "equal", "10", """{"path":10.0}""", false },
            { "equal", "1.5e3", """{"path":1.5e3}""", true },
            { "equal", "1500", """{"path":1.5e3}""", false },
            { "startsWith", "-0.", """{"path":-0.25}""", true },
            { "equal", "true", """{"path":true}""", true },
            { "equal", "true", """{"path":"true"}""", true },
            { "equal", "false", """{"path":false}""", true },
            { "equal", "null", """{"path":null}""", true },
            { "notEqual", "x", """{"path":null}""", true },
            { "regex", "^[0-9]+$", """{"path":42}""", true },
            { "equal", "{}", """{"path":{}}""", false },
            { "notEqual", "x", """{"path":{"a":"b"}}""", false },
            { "notEqual", "x", """{"path":["x"]}""", false },
            { "notContains", "x", """{"path":[]}""", false },
        };

    public static TheoryData<string, string, string, bool> Text =>
        new()
        {
            { "equal", "é", """{"path":"\u00e9"}""", true },
            { "equal", "é", """{"path":"é"}""", true },
            { "equal", "a\"b", """{"path":"a\"b"}""", true },
            { "equal", "a\\b", """{"path":"a\\b"}""", true },
            { "equal", "line\nbreak", """{"path":"line\nbreak"}""", true },
            { "contains", "日本", """{"path":"\u65e5\u672c語"}""", true },
            { "contains", "日本", """{"path":"日本語"}""", true },
            { "startsWith", "日", """{"path":"本日"}""", false },
            { "equal", "😀", """{"path":"\ud83d\ude00"}""", true },
            { "equal", "😀", """{"path":"😀"}""", true },
            { "endsWith", "😀", """{"path":"smile 😀"}""", true },
            { "regex", "^.$", """{"path":"é"}""", true },
            { "regex", "^..$", """{"path":"😀"}""", true },
            { "regex", "^日本$", """{"path":"\u65e5\u672c"}""", true },
            { "equal", LongValue, $$"""{"path":"{{LongEscaped}}"}""", true },
            { "equal", LongValue, $$"""{"path":"{{LongEscaped}}x"}""", false },
        };

    [Theory]
    [MemberData(nameof(Operators))]
    [MemberData(nameof(Scalars))]
    [MemberData(nameof(Text))]
    public void An_operator_compares_the_value_the_path_reaches_as_text(string op, string value, string json, bool matches)
    {
        var set = Set([Def("p", "fs__write", "block_always", When("path", op, value))]);
        var decision = Invoke(set, "fs__write", json, trusted: true);
        Assert.Equal(matches ? InvocationVerdict.Block : InvocationVerdict.Allow, decision.Verdict);
        Assert.Equal(matches ? "p" : null, decision.PolicyId);
    }

    public static TheoryData<string, string, bool> Paths =>
        new()
        {
            { "a", """{"a":"x"}""", true },
            { "a.b", """{"a":{"b":"x"}}""", true },
            { "a.b", """{"a":{"c":"x"}}""", false },
            { "a.b", """{"a":[{"b":"x"}]}""", false },
            { "a.b.c.d", """{"a":{"b":{"c":{"d":"x"}}}}""", true },
            { "a[*]", """{"a":["y","x"]}""", true },
            { "a[*]", """{"a":["y","z"]}""", false },
            { "a[*]", """{"a":{"0":"x"}}""", false },
            { "a[*]", """{"a":[]}""", false },
            { "a[0]", """{"a":["x","y"]}""", true },
            { "a[0]", """{"a":["y","x"]}""", false },
            { "a[1]", """{"a":["y","x"]}""", true },
            { "a[5]", """{"a":["y","x"]}""", false },
            { "a[*].b", """{"a":[{"b":"y"},{"b":"x"}]}""", true },
            { "a[*].b", """{"a":[{"c":"x"},"x",["x"]]}""", false },
            { "a[*][*]", """{"a":[["y"],["z","x"]]}""", true },
            { "a[1][0]", """{"a":[["x"],["x"]]}""", true },
            { "a[1][0]", """{"a":[["x"],["y","x"]]}""", false },
            { "m[*].to[0]", """{"m":[{"to":["q","x"]},{"to":["x"]}]}""", true },
            { "m[*].to[0]", """{"m":[{"to":["q","x"]},{"to":"x"}]}""", false },
            { "a", """{"a":"y","a":"x"}""", true },
            { "a", """{"b":{"a":"x"}}""", false },
            { "naïve", """{"na\u00efve":"x"}""", true },
            { "q\"uote", """{"q\"uote":"x"}""", true },
            { "日本.x", """{"\u65e5\u672c":{"x":"x"}}""", true },
            { "a", """{}""", false },
            { "a", "", false },
            { "a", """["x"]""", false },
            { "a", "\"x\"", false },
            { "a b", """{"a b":"x"}""", true },
        };

    [Theory]
    [MemberData(nameof(Paths))]
    public void A_key_path_reaches_properties_and_array_elements(string key, string json, bool matches)
    {
        var set = Set([Def("p", "fs__write", "block_always", When(key, "equal", "x"))]);
        Assert.Equal(matches ? InvocationVerdict.Block : InvocationVerdict.Allow, Invoke(set, "fs__write", json, trusted: true).Verdict);
    }

    [Theory]
    [InlineData("""{"a":[{"b":"x","c":"z"}]}""", true)]
    [InlineData("""{"a":[{"b":"x"},{"c":"z"}]}""", false)]
    [InlineData("""{"a":[{"c":"z","b":"x"}]}""", true)]
    public void Overlapping_wildcard_and_index_paths_are_followed_at_once(string json, bool matches)
    {
        // a[*].b and a[0].c both reach element 0: the determinised automaton must keep both.
        var set = Set([Def("p", "fs__write", "block_always", When("a[*].b", "equal", "x"), When("a[0].c", "equal", "z"))]);
        Assert.Equal(matches ? InvocationVerdict.Block : InvocationVerdict.Allow, Invoke(set, "fs__write", json, trusted: true).Verdict);
    }

    [Theory]
    [InlineData("""{"to":["a@x.com","b@evil.com"],"subject":"hi"}""", true)]
    [InlineData("""{"to":["a@x.com"],"subject":"hi"}""", false)]
    [InlineData("""{"to":["b@evil.com"],"subject":"other"}""", false)]
    [InlineData("""{"subject":"hi"}""", false)]
    public void A_policy_matches_when_all_its_conditions_match(string json, bool matches)
    {
        var set = Set([Def("p", "mail__send", "block_always", When("to[*]", "endsWith", "@evil.com"), When("subject", "equal", "hi"))]);
        Assert.Equal(matches ? InvocationVerdict.Block : InvocationVerdict.Allow, Invoke(set, "mail__send", json, trusted: true).Verdict);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{}")]
    [InlineData("""{"anything":[1,2,{"x":null}]}""")]
    public void A_policy_without_conditions_always_matches(string json)
    {
        var set = Set([Def("p", "fs__write", "block_always")]);
        Assert.Equal(("p", InvocationVerdict.Block), (Invoke(set, "fs__write", json, trusted: true).PolicyId, Invoke(set, "fs__write", json, true).Verdict));
    }

    [Theory]
    [InlineData("{")]
    [InlineData("""{"a":1}x""")]
    [InlineData("""{"a":[1,]}""")]
    [InlineData("{'a':1}")]
    [InlineData("   ")]
    [InlineData("""{"a":"\x"}""")]
    [InlineData("""{"a":"b""")]
    public void Malformed_arguments_fail_closed(string json)
    {
        var set = Set([Def("p", "fs__write", "allow_when_context_is_untrusted"), Def("r", "fs__write", "require_approval", When("x", "equal", "y"))]);
        foreach (var trusted in new[] { true, false })
        {
            var decision = Invoke(set, "fs__write", json, trusted);
            Assert.Equal(
                (InvocationVerdict.Block, DecisionSource.Default, "the arguments are not valid JSON"),
                (decision.Verdict, decision.Source, decision.Reason)
            );
        }

        var data = Set(data: [Def("t", "fs__write", "mark_as_trusted")]);
        var result = Result(data, "fs__write", json);
        Assert.Equal((ResultVerdict.Untrusted, DecisionSource.Default), (result.Verdict, result.Source));
    }

    [Theory]
    [InlineData("""{"path":"\ud800"}""")]
    [InlineData("""{"path":"a\udc00b"}""")]
    [InlineData("""{"pa\ud800th":"x"}""")]
    public void An_escaped_lone_surrogate_that_a_condition_reads_fails_closed(string json)
    {
        var set = Set([Def("p", "fs__write", "allow_when_context_is_untrusted", When("path", "equal", "x"))]);
        Assert.Equal("the arguments are not valid JSON", Invoke(set, "fs__write", json, trusted: false).Reason);
    }

    // A regex condition's value is unescaped only after the pass (deferred), so the lone surrogate surfaces there.
    [Theory]
    [InlineData("""{"path":"\ud800"}""")]
    [InlineData("""{"path":"a\udc00b"}""")]
    public void An_escaped_lone_surrogate_that_a_regex_condition_reads_fails_closed(string json)
    {
        var set = Set([Def("p", "fs__write", "allow_when_context_is_untrusted", When("path", "regex", "^x"))]);
        var decision = Invoke(set, "fs__write", json, trusted: false);
        Assert.Equal((InvocationVerdict.Block, "the arguments are not valid JSON"), (decision.Verdict, decision.Reason));
    }

    [Theory]
    [InlineData(10)]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(33)]
    [InlineData(100)]
    public void Regex_candidates_beyond_the_deferred_capacity_are_evaluated_on_the_spot(int count)
    {
        var items = string.Join(",", Enumerable.Range(0, count).Select(i => i == count - 1 ? "\"k\\u00e9y-1\"" : $"\"n{i}\""));
        var set = Set([Def("p", "fs__write", "block_always", When("a[*]", "regex", "^kéy-[0-9]$"), When("b", "equal", "x"))]);
        Assert.Equal("p", Invoke(set, "fs__write", $$"""{"a":[{{items}}],"b":"x"}""", trusted: true).PolicyId);
        Assert.Null(Invoke(set, "fs__write", $$"""{"a":[{{items}}],"b":"y"}""", trusted: true).PolicyId);
    }

    [Fact]
    public void A_document_deeper_than_64_levels_is_malformed()
    {
        var json = "{\"a\":" + new string('[', 70) + new string(']', 70) + "}";
        var set = Set([Def("p", "fs__write", "allow_when_context_is_untrusted")]);
        Assert.Equal(DecisionSource.Default, Invoke(set, "fs__write", json, trusted: false).Source);
        Assert.Equal(InvocationVerdict.Block, Invoke(set, "fs__write", json, trusted: false).Verdict);
    }

    [Fact]
    public void A_tool_without_policies_that_can_decide_is_decided_without_reading_the_arguments()
    {
        var set = Set([Def("p", "fs__write", "block_always"), Def("a", "mail__send", "allow_when_context_is_untrusted")]);
        Assert.Equal(DecisionSource.TrustedContext, Invoke(set, "fs__read", "{not json", trusted: true).Source);
        Assert.Equal(DecisionSource.TrustedContext, Invoke(set, "mail__send", "{not json", trusted: true).Source);
        Assert.Equal("the arguments are not valid JSON", Invoke(set, "mail__send", "{not json", trusted: false).Reason);
    }

    [Theory]
    [InlineData("""{"path":"/etc/passwd","mode":"x"}""", "late")]
    [InlineData("""{"path":"/etc/p\u0061sswd","mode":"x"}""", "late")]
    [InlineData("""{"path":"/etc/passwd","mode":"w"}""", "early")]
    [InlineData("""{"path":"/home/passwd","mode":"w"}""", null)]
    [InlineData("""{"path":["/tmp/a","/etc/shadow"],"mode":"x"}""", null)]
    [InlineData("""{"path":[1,"/etc/shadow"],"mode":"x"}""", null)]
    public void Regex_conditions_are_decided_after_the_cheap_ones_of_their_policy(string json, string? id)
    {
        // "path" is a string here, so path[*] reaches nothing; path reaches strings only.
        var set = Set([
            Def("early", "fs__write", "block_always", When("mode", "equal", "w"), When("path", "regex", "^/etc/")),
            Def("late", "fs__write", "block_always", When("path", "regex", "passwd$"), When("mode", "equal", "x"), When("path", "regex", "^/etc/")),
        ]);
        Assert.Equal(id, Invoke(set, "fs__write", json, trusted: true).PolicyId);
    }

    [Fact]
    public void Long_property_names_and_values_with_escapes_use_pooled_buffers()
    {
        var name = new string('n', 400);
        var set = Set([Def("p", "fs__write", "block_always", When(name + "é", "regex", "^a{300}é$"))]);
        var json = $$"""{"{{name}}\u00e9":"{{LongEscaped}}"}""";
        Assert.Equal(InvocationVerdict.Block, Invoke(set, "fs__write", json, trusted: true).Verdict);
    }
}
