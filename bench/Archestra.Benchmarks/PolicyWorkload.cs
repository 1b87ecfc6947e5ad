using System.Text;
using Archestra.Policy;
using Archestra.Policy.Tests;

namespace Archestra.Benchmarks;

/// <summary>
/// 1,000 policies over 100 tools (10 servers × 10 tools; 8 tool-invocation and 2 trusted-data policies per
/// tool, 1–3 conditions each, one in seven a regex) and ~1 KB documents shaped like real calls: a file write,
/// an email, and an MCP CallToolResult. Most policies do not match, as in production: every rule is decided.
/// </summary>
public sealed class PolicyWorkload
{
    public const string Profile = "default";
    public const string FileTool = "fs__tool0";
    public const string MailTool = "mail__tool0";

    private static readonly string[] Servers = ["fs", "mail", "github", "slack", "db", "web", "calendar", "drive", "jira", "shell"];
    private static readonly string[] InvocationActions =
    [
        "block_always",
        "block_when_context_is_untrusted",
        "require_approval",
        "allow_when_context_is_untrusted",
    ];
    private static readonly string[] DataActions = ["mark_as_untrusted", "mark_as_trusted", "sanitize_with_dual_llm", "block_always"];
    private static readonly string[] ArgumentKeys =
    [
        "path",
        "content",
        "options.recursive",
        "options.mode",
        "to[*]",
        "cc[*]",
        "subject",
        "body",
        "attachments[*].name",
        "to[0]",
    ];
    private static readonly string[] ResultKeys = ["content[*].text", "structuredContent.sender", "isError", "content[0].type"];
    private static readonly string[] Operators = ["equal", "notEqual", "contains", "notContains", "startsWith", "endsWith", "regex"];
    private static readonly string[] Regexes =
    [
        @"^/etc/",
        @"\.(env|pem|key)$",
        @"@(gmail|proton)\.(com|me)$",
        @"(?i)password",
        @"^[0-7]{3,4}$",
        @"\b\d{16}\b",
        @"^/home/[a-z]+/\.ssh/",
    ];

    public PolicyWorkload()
    {
        var random = new Random(20250611);
        var invocation = new List<PolicyDefinition>();
        var data = new List<PolicyDefinition>();
        foreach (var server in Servers)
        {
            for (var t = 0; t < 10; t++)
            {
                var tool = $"{server}__tool{t}";
                for (var p = 0; p < 8; p++)
                {
                    invocation.Add(Policy(random, $"{tool}-i{p}", tool, InvocationActions[p % 4], ArgumentKeys));
                }

                for (var p = 0; p < 2; p++)
                {
                    data.Add(Policy(random, $"{tool}-d{p}", tool, DataActions[(t + p) % 4], ResultKeys));
                }
            }
        }

        var settings = new Dictionary<string, ToolSettings> { [MailTool] = new(AllowUsageWhenUntrustedDataIsPresent: true) };
        Definition = new PolicySetDefinition(invocation, data, [new ProfilePolicyInput(Profile, Servers, settings)]);
        var compiled = PolicyCompiler.Compile(Definition);
        if (!compiled.Succeeded)
        {
            throw new InvalidOperationException(string.Join('\n', compiled.Errors));
        }

        Policies = compiled.Snapshot.ForProfile(Profile);
        Reference = new ReferenceInterpreter(Definition);
    }

    public PolicySetDefinition Definition { get; }

    public ProfilePolicies Policies { get; }

    public ReferenceInterpreter Reference { get; }

    public byte[] FileToolUtf8 { get; } = Encoding.UTF8.GetBytes(FileTool);

    public byte[] MailToolUtf8 { get; } = Encoding.UTF8.GetBytes(MailTool);

    /// <summary>A 1 KB file write; the content is plain prose (no escapes).</summary>
    public byte[] FileWrite { get; } =
        Document(
            $$$"""{"path":"/home/dev/project/src/services/billing/invoice-renderer.ts","content":"{{{Prose(760)}}}","options":"""
                + """{"recursive":true,"mode":"0644","overwrite":false,"encoding":"utf-8"}}"""
        );

    /// <summary>The same write with source-code content: newlines, quotes and tabs escaped, as an editor sends it.</summary>
    public byte[] FileWriteEscaped { get; } =
        Document(
            $$$"""{"path":"/home/dev/project/src/services/billing/invoice-renderer.ts","content":"{{{Code(700)}}}","options":"""
                + """{"recursive":true,"mode":"0644","overwrite":false,"encoding":"utf-8"}}"""
        );

    /// <summary>A 1 KB email.</summary>
    public byte[] Email { get; } =
        Document(
            """{"to":["alice@corp.example","bob@corp.example","carol@partner.example"],"cc":"""
                + """["finance@corp.example","audit@corp.example"]"""
                + $$$""","subject":"Q3 invoice reconciliation - action needed","body":"{{{Prose(700)}}}","attachments":["""
                + """{"name":"q3.xlsx","size":48213},{"name":"notes.pdf","size":9120}]}"""
        );

    /// <summary>A 1 KB MCP CallToolResult.</summary>
    public byte[] ToolResult { get; } =
        Document(
            $$$"""{"content":[{"type":"text","text":"{{{Prose(820)}}}"},{"type":"text","text":"end of file"}],"structuredContent":"""
                + """{"sender":"build-bot@corp.example","count":2},"isError":false}"""
        );

    private static PolicyDefinition Policy(Random random, string id, string tool, string action, string[] keys)
    {
        var conditions = new List<PolicyCondition>();
        var count = 1 + random.Next(3);
        for (var c = 0; c < count; c++)
        {
            var op = Operators[random.Next(Operators.Length)];
            var value = op == "regex" ? Regexes[random.Next(Regexes.Length)] : $"{(op is "startsWith" ? "/" : "")}value-{random.Next(1000)}";
            conditions.Add(new PolicyCondition(keys[random.Next(keys.Length)], op, value));
        }

        return new PolicyDefinition(id, tool, conditions, action, $"policy {id}", []);
    }

    private static byte[] Document(string json) => Encoding.UTF8.GetBytes(json);

    private static string Prose(int length)
    {
        const string words =
            "the quarterly numbers were reconciled against the ledger and the remaining differences are listed below for review by the "
            + "finance team before the close ";
        var text = new StringBuilder();
        while (text.Length < length)
        {
            text.Append(words);
        }

        return text.ToString(0, length);
    }

    private static string Code(int length)
    {
        const string line = "export function render(invoice: Invoice): string {\\n\\treturn `<h1>${invoice.id}</h1>` + \\\"total\\\";\\n}\\n";
        var text = new StringBuilder();
        while (text.Length < length)
        {
            text.Append(line);
        }

        return text.ToString();
    }
}
