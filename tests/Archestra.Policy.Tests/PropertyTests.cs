using System.Globalization;
using System.Text;

namespace Archestra.Policy.Tests;

/// <summary>
/// Random policy sets and documents, decided by the compiled snapshot and by <see cref="ReferenceInterpreter"/>:
/// every decision must agree. Set POLICY_SEED to replay a failure (the message prints the seed and case).
/// </summary>
public partial class PropertyTests
{
    private const int Cases = 3_000;
    private const int DefaultSeed = 0x5eed_2025;

    private static readonly string[] Tools = ["fs__write", "fs__read", "mail__send", "web__fetch"];
    private static readonly string[] Names = ["a", "b", "to", "é", "日本", "q\"t", "x y", "😀"];
    private static readonly string[] Operators = ["equal", "notEqual", "contains", "notContains", "startsWith", "endsWith", "regex"];
    private static readonly string[] Regexes = ["^a", "b$", @"\d+", "é", "^[a-z]+$", "日", "^$", "(a|b)c", "^.{2}$", "true|null", "^-?[0-9.]+(e[0-9]+)?$"];
    private static readonly string[] Values =
    [
        "a",
        "b",
        "ab",
        "abc",
        "é",
        "日本",
        "😀",
        "10",
        "1.5e3",
        "true",
        "false",
        "null",
        "",
        "q\"t",
        "a\\b",
        "-0.5",
        "bc",
    ];
    private static readonly string[] Numbers = ["10", "1.5e3", "-0.5", "0", "1E2", "10.0", "7"];
    private static readonly string[] InvocationActions =
    [
        "allow_when_context_is_untrusted",
        "block_when_context_is_untrusted",
        "block_always",
        "require_approval",
    ];
    private static readonly string[] DataActions = ["mark_as_trusted", "mark_as_untrusted", "block_always", "sanitize_with_dual_llm"];
    private static readonly string[] ProfilesToAsk = ["p1", "p2", "nobody"];

    [Fact]
    public void The_compiled_engine_agrees_with_the_reference_interpreter()
    {
        var seed = Environment.GetEnvironmentVariable("POLICY_SEED") is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : DefaultSeed;
        var decisions = 0;
        for (var c = 0; c < Cases; c++)
        {
            var random = new Random(HashCode.Combine(seed, c));
            var set = RandomSet(random);
            var compiled = PolicyFixtures.Compile(set);
            var reference = new ReferenceInterpreter(set);
            for (var d = 0; d < 2; d++)
            {
                var document = RandomDocument(random);
                var bytes = Encoding.UTF8.GetBytes(document);
                foreach (var profile in ProfilesToAsk)
                {
                    var policies = compiled.ForProfile(profile);
                    foreach (var tool in (ReadOnlySpan<string>)[.. Tools, "archestra__x"])
                    {
                        foreach (var trusted in (ReadOnlySpan<bool>)[true, false])
                        {
                            var actual = policies.EvaluateInvocation(Encoding.UTF8.GetBytes(tool), bytes, trusted);
                            var expected = reference.EvaluateInvocation(profile, tool, bytes, trusted);
                            Check(
                                (expected.Verdict, expected.Source, expected.PolicyId),
                                (actual.Verdict, actual.Source, actual.PolicyId),
                                seed,
                                c,
                                set,
                                document,
                                $"invocation {profile} {tool} trusted={trusted}"
                            );
                            decisions++;
                        }

                        var result = policies.EvaluateResult(tool, bytes);
                        var expectedResult = reference.EvaluateResult(profile, tool, bytes);
                        Check(
                            (expectedResult.Verdict, expectedResult.Source, expectedResult.PolicyId),
                            (result.Verdict, result.Source, result.PolicyId),
                            seed,
                            c,
                            set,
                            document,
                            $"result {profile} {tool}"
                        );
                        decisions++;
                    }
                }
            }
        }

        Assert.True(decisions >= Cases * 2 * 3 * 5 * 3, $"{decisions} decisions");
    }

    private static void Check<T>(T expected, T actual, int seed, int c, PolicySetDefinition set, string document, string what)
    {
        if (EqualityComparer<T>.Default.Equals(expected, actual))
        {
            return;
        }

        var message = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"POLICY_SEED={seed} case {c}: {what}: reference {expected}, compiled {actual}")
            .AppendLine(CultureInfo.InvariantCulture, $"document: {document}");
        foreach (var (list, policies) in new[] { ("invocation", set.ToolInvocation), ("data", set.TrustedData) })
        {
            foreach (var policy in policies)
            {
                message.Append(CultureInfo.InvariantCulture, $"{list} {policy.Id} {policy.Tool} {policy.Action} [{string.Join(",", policy.Profiles)}]");
                foreach (var condition in policy.Conditions)
                {
                    message.Append(CultureInfo.InvariantCulture, $" ({condition.Key} {condition.Operator} \"{condition.Value}\")");
                }

                message.AppendLine();
            }
        }

        Assert.Fail(message.ToString());
    }

    private static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];

    private static PolicySetDefinition RandomSet(Random random)
    {
        var profiles = new[]
        {
            new ProfilePolicyInput("p1", ["fs", "mail", "web"], RandomSettings(random, Tools)),
            new ProfilePolicyInput("p2", ["fs"], RandomSettings(random, ["fs__write", "fs__read"])),
        };
        return new PolicySetDefinition(RandomPolicies(random, "i", InvocationActions), RandomPolicies(random, "d", DataActions), profiles);
    }

    private static Dictionary<string, ToolSettings> RandomSettings(Random random, string[] tools)
    {
        var settings = new Dictionary<string, ToolSettings>();
        foreach (var tool in tools)
        {
            if (random.Next(2) == 0)
            {
                settings[tool] = new ToolSettings(random.Next(2) == 0, (ResultTreatment)random.Next(3));
            }
        }

        return settings;
    }

    private static List<PolicyDefinition> RandomPolicies(Random random, string prefix, string[] actions)
    {
        var policies = new List<PolicyDefinition>();
        var count = random.Next(9);
        for (var i = 0; i < count; i++)
        {
            var tool = Pick(random, Tools);
            IReadOnlyList<string> profiles = random.Next(4) switch
            {
                0 => ["p1"],
                1 when tool.StartsWith("fs__", StringComparison.Ordinal) => ["p2"],
                _ => [],
            };
            var conditions = new List<PolicyCondition>();
            var conditionCount = random.Next(4);
            for (var c = 0; c < conditionCount; c++)
            {
                var op = Pick(random, Operators);
                conditions.Add(new PolicyCondition(RandomPath(random), op, op == "regex" ? Pick(random, Regexes) : Pick(random, Values)));
            }

            policies.Add(new PolicyDefinition($"{prefix}{i}", tool, conditions, Pick(random, actions), "", profiles));
        }

        return policies;
    }

    private static string RandomPath(Random random)
    {
        var path = new StringBuilder(Pick(random, Names));
        var segments = random.Next(3);
        for (var i = 0; i < segments; i++)
        {
            path.Append(
                random.Next(4) switch
                {
                    0 => "." + Pick(random, Names),
                    1 => "[*]",
                    2 => "[0]",
                    _ => "[1]",
                }
            );
        }

        return path.ToString();
    }

    private static string RandomDocument(Random random)
    {
        var roll = random.Next(40);
        if (roll == 0)
        {
            return "";
        }

        var json = new StringBuilder();
        WriteObject(random, json, 0);
        var text = json.ToString();
        return roll == 1 ? text[..random.Next(text.Length)] : text;
    }

    private static void WriteValue(Random random, StringBuilder json, int depth)
    {
        switch (random.Next(depth >= 4 ? 5 : 8))
        {
            case 0:
            case 1:
                WriteString(random, json, random.Next(3) == 0 ? RandomText(random) : Pick(random, Values));
                break;
            case 2:
                json.Append(Pick(random, Numbers));
                break;
            case 3:
                json.Append(Pick(random, (string[])["true", "false", "null"]));
                break;
            case 4:
                WriteString(random, json, Pick(random, Values));
                break;
            case 5:
            case 6:
                WriteObject(random, json, depth + 1);
                break;
            default:
                json.Append('[');
                var count = random.Next(4);
                for (var i = 0; i < count; i++)
                {
                    json.Append(i > 0 ? "," : "");
                    WriteValue(random, json, depth + 1);
                }

                json.Append(']');
                break;
        }
    }

    private static void WriteObject(Random random, StringBuilder json, int depth)
    {
        json.Append('{');
        var count = random.Next(5);
        for (var i = 0; i < count; i++)
        {
            json.Append(i > 0 ? "," : "");
            WriteString(random, json, random.Next(8) == 0 ? RandomText(random) : Pick(random, Names));
            json.Append(':');
            WriteValue(random, json, depth + 1);
        }

        json.Append('}');
    }

    private static string RandomText(Random random)
    {
        var text = new StringBuilder();
        var length = random.Next(6);
        for (var i = 0; i < length; i++)
        {
            text.Append(Pick(random, (string[])["a", "b", "c", "1", "é", "日", "😀", "\"", "\\", "\n", " ", "e", "."]));
        }

        return text.ToString();
    }

    /// <summary>Writes a JSON string, escaping some characters that need no escape so that unescaping is exercised.</summary>
    private static void WriteString(Random random, StringBuilder json, string value)
    {
        json.Append('"');
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (char.IsHighSurrogate(c))
            {
                // A pair is escaped as a pair or not at all: a lone escaped surrogate is not valid text.
                json.Append(random.Next(5) == 0 ? $"\\u{(int)c:x4}\\u{(int)value[i + 1]:x4}" : value.AsSpan(i, 2));
                i++;
            }
            else if (c is '"' or '\\')
            {
                json.Append(random.Next(4) == 0 ? $"\\u{(int)c:x4}" : $"\\{c}");
            }
            else if (c < 0x20)
            {
                json.Append(random.Next(2) == 0 ? "\\n" : $"\\u{(int)c:X4}");
            }
            else if (random.Next(5) == 0)
            {
                json.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            }
            else
            {
                json.Append(c);
            }
        }

        json.Append('"');
    }
}
