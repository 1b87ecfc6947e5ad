using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Archestra.Policy.Tests;

/// <summary>
/// The policy semantics written as plainly as possible, to check the compiled engine against: a
/// JsonDocument, recursion over the key path, and the precedence lists spelled out step by step. Assumes the
/// definition compiles. Slow on purpose; shared with the benchmarks as the baseline.
/// </summary>
public sealed class ReferenceInterpreter(PolicySetDefinition definition)
{
    private readonly Dictionary<string, Regex> _regexes = new(StringComparer.Ordinal);

    public InvocationDecision EvaluateInvocation(string profile, string tool, byte[] arguments, bool trusted)
    {
        if (tool.StartsWith("archestra__", StringComparison.Ordinal))
        {
            return new InvocationDecision(InvocationVerdict.Allow, DecisionSource.BuiltIn, null, "");
        }

        var policies = Applicable(definition.ToolInvocation, profile, tool);
        if (trusted)
        {
            // In a trusted context only these two actions can change the answer; the others are not looked at.
            policies = policies.FindAll(p => p.Action is "block_always" or "require_approval");
        }

        var settings = Settings(profile, tool);
        List<PolicyDefinition> matching = [];
        if (policies.Count > 0)
        {
            var matched = Matching(policies, arguments);
            if (matched is null)
            {
                return new InvocationDecision(InvocationVerdict.Block, DecisionSource.Default, null, "");
            }

            matching = matched;
        }

        if (First(matching, "block_always") is { } blockAlways)
        {
            return FromPolicy(InvocationVerdict.Block, blockAlways);
        }

        if (!trusted && First(matching, "block_when_context_is_untrusted") is { } blockUntrusted)
        {
            return FromPolicy(InvocationVerdict.Block, blockUntrusted);
        }

        if (First(matching, "require_approval") is { } approval)
        {
            return FromPolicy(InvocationVerdict.RequireApproval, approval);
        }

        if (trusted)
        {
            return new InvocationDecision(InvocationVerdict.Allow, DecisionSource.TrustedContext, null, "");
        }

        if (First(matching, "allow_when_context_is_untrusted") is { } allow)
        {
            return FromPolicy(InvocationVerdict.Allow, allow);
        }

        return new InvocationDecision(
            settings.AllowUsageWhenUntrustedDataIsPresent ? InvocationVerdict.Allow : InvocationVerdict.Block,
            DecisionSource.Default,
            null,
            ""
        );
    }

    public ResultDecision EvaluateResult(string profile, string tool, byte[] result)
    {
        if (tool.StartsWith("archestra__", StringComparison.Ordinal))
        {
            return new ResultDecision(ResultVerdict.Trusted, DecisionSource.BuiltIn, null, "");
        }

        var policies = Applicable(definition.TrustedData, profile, tool);
        List<PolicyDefinition> matching = [];
        if (policies.Count > 0)
        {
            var matched = Matching(policies, result);
            if (matched is null)
            {
                return new ResultDecision(ResultVerdict.Untrusted, DecisionSource.Default, null, "");
            }

            matching = matched;
        }

        if (First(matching, "block_always") is { } block)
        {
            return new ResultDecision(ResultVerdict.Block, DecisionSource.Policy, block.Id, "");
        }

        if (First(matching, "mark_as_untrusted") is { } untrusted)
        {
            return new ResultDecision(ResultVerdict.Untrusted, DecisionSource.Policy, untrusted.Id, "");
        }

        if (First(matching, "sanitize_with_dual_llm") is { } sanitize)
        {
            return new ResultDecision(ResultVerdict.SanitizeWithDualLlm, DecisionSource.Policy, sanitize.Id, "");
        }

        if (First(matching, "mark_as_trusted") is { } trusted)
        {
            return new ResultDecision(ResultVerdict.Trusted, DecisionSource.Policy, trusted.Id, "");
        }

        var verdict = Settings(profile, tool).ResultTreatment switch
        {
            ResultTreatment.Trusted => ResultVerdict.Trusted,
            ResultTreatment.SanitizeWithDualLlm => ResultVerdict.SanitizeWithDualLlm,
            _ => ResultVerdict.Untrusted,
        };
        return new ResultDecision(verdict, DecisionSource.Default, null, "");
    }

    private static InvocationDecision FromPolicy(InvocationVerdict verdict, PolicyDefinition policy) => new(verdict, DecisionSource.Policy, policy.Id, "");

    private static PolicyDefinition? First(List<PolicyDefinition> matching, string action)
    {
        foreach (var policy in matching)
        {
            if (policy.Action == action)
            {
                return policy;
            }
        }

        return null;
    }

    private List<PolicyDefinition> Applicable(IReadOnlyList<PolicyDefinition> policies, string profileName, string tool)
    {
        var profile = FindProfile(profileName);
        var result = new List<PolicyDefinition>();
        if (profile is null)
        {
            return result;
        }

        foreach (var policy in policies)
        {
            if (policy.Tool != tool)
            {
                continue;
            }

            var separator = tool.IndexOf("__", StringComparison.Ordinal);
            var server = separator > 0 ? tool[..separator] : "";
            var applies = policy.Profiles.Count == 0 ? profile.AgentTools || profile.Servers.Contains(server) : policy.Profiles.Contains(profileName);
            if (applies)
            {
                result.Add(policy);
            }
        }

        return result;
    }

    // The tool's own settings, else "{server}__*", else "*", else the defaults.
    private ToolSettings Settings(string profileName, string tool)
    {
        var tools = FindProfile(profileName)?.Tools;
        if (tools is null)
        {
            return new ToolSettings();
        }

        if (tools.TryGetValue(tool, out var own))
        {
            return own;
        }

        var separator = tool.IndexOf("__", StringComparison.Ordinal);
        if (separator > 0 && tools.TryGetValue(tool[..separator] + "__*", out var server))
        {
            return server;
        }

        return tools.TryGetValue("*", out var any) ? any : new ToolSettings();
    }

    private ProfilePolicyInput? FindProfile(string name)
    {
        foreach (var profile in definition.Profiles)
        {
            if (profile.Profile == name)
            {
                return profile;
            }
        }

        return null;
    }

    /// <summary>The policies whose conditions all match, in definition order; null when the JSON is invalid.</summary>
    private List<PolicyDefinition>? Matching(List<PolicyDefinition> policies, byte[] json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json.Length == 0 ? "{}"u8.ToArray() : json);
        }
        catch (JsonException)
        {
            return null;
        }

        try
        {
            using var owned = document;
            var result = new List<PolicyDefinition>();
            foreach (var policy in policies)
            {
                var all = true;
                foreach (var condition in policy.Conditions)
                {
                    if (!ConditionMatches(document.RootElement, condition))
                    {
                        all = false;
                        break;
                    }
                }

                if (all)
                {
                    result.Add(policy);
                }
            }

            return result;
        }
        catch (InvalidOperationException)
        {
            // An escaped lone surrogate cannot be read as text.
            return null;
        }
    }

    private bool ConditionMatches(JsonElement root, PolicyCondition condition)
    {
        var values = new List<JsonElement>();
        Collect(root, ParsePath(condition.Key), 0, values);
        foreach (var value in values)
        {
            string text;
            switch (value.ValueKind)
            {
                case JsonValueKind.String:
                    text = value.GetString()!;
                    break;
                case JsonValueKind.Number:
                    text = value.GetRawText();
                    break;
                case JsonValueKind.True:
                    text = "true";
                    break;
                case JsonValueKind.False:
                    text = "false";
                    break;
                case JsonValueKind.Null:
                    text = "null";
                    break;
                default:
                    continue;
            }

            if (Compare(condition.Operator, text, condition.Value))
            {
                return true;
            }
        }

        return false;
    }

    private bool Compare(string op, string text, string value) =>
        op switch
        {
            "equal" => string.Equals(text, value, StringComparison.Ordinal),
            "notEqual" => !string.Equals(text, value, StringComparison.Ordinal),
            "contains" => text.Contains(value, StringComparison.Ordinal),
            "notContains" => !text.Contains(value, StringComparison.Ordinal),
            "startsWith" => text.StartsWith(value, StringComparison.Ordinal),
            "endsWith" => text.EndsWith(value, StringComparison.Ordinal),
            "regex" => Regex(value).IsMatch(text),
            _ => throw new InvalidOperationException(op),
        };

    private Regex Regex(string pattern)
    {
        if (!_regexes.TryGetValue(pattern, out var regex))
        {
            regex = new Regex(pattern, RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
            _regexes[pattern] = regex;
        }

        return regex;
    }

    private static void Collect(JsonElement element, List<object> path, int at, List<JsonElement> values)
    {
        if (at == path.Count)
        {
            values.Add(element);
            return;
        }

        switch (path[at])
        {
            case string name when element.ValueKind == JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    if (property.Name == name)
                    {
                        Collect(property.Value, path, at + 1, values);
                    }
                }

                break;
            case int index when element.ValueKind == JsonValueKind.Array:
                if (index < element.GetArrayLength())
                {
                    Collect(element[index], path, at + 1, values);
                }

                break;
            case AnyElement when element.ValueKind == JsonValueKind.Array:
                foreach (var item in element.EnumerateArray())
                {
                    Collect(item, path, at + 1, values);
                }

                break;
        }
    }

    /// <summary>A path as a list of: string (property name), int (index), or <see cref="AnyElement"/>.</summary>
    private static List<object> ParsePath(string key)
    {
        var path = new List<object>();
        var name = new StringBuilder();
        for (var i = 0; i < key.Length; i++)
        {
            var c = key[i];
            if (c == '.')
            {
                FlushName(path, name);
            }
            else if (c == '[')
            {
                FlushName(path, name);
                var close = key.IndexOf(']', i);
                var inside = key[(i + 1)..close];
                path.Add(inside == "*" ? AnyElement.Instance : int.Parse(inside, System.Globalization.CultureInfo.InvariantCulture));
                i = close;
            }
            else
            {
                name.Append(c);
            }
        }

        FlushName(path, name);
        return path;
    }

    private static void FlushName(List<object> path, StringBuilder name)
    {
        if (name.Length > 0)
        {
            path.Add(name.ToString());
            name.Clear();
        }
    }

    private sealed class AnyElement
    {
        public static readonly AnyElement Instance = new();
    }
}
