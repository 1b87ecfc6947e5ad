using System.Security.Cryptography;
using System.Text;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;
using Archestra.Policy;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>
/// The fake provider behind a gateway that enforces the secure tool defaults, with the profiles <c>guard</c>
/// (tool guard on) and <c>unguarded</c> (<c>toolGuard: false</c>), both exposing the servers <c>web</c> and
/// <c>mail</c> to the policies. <c>web__*</c> results are untrusted (the default), <c>mail__*</c> results trusted;
/// <c>web__search</c> may run in an untrusted context, <c>mail__send</c> may not. The LLM-only profile <c>agent</c>
/// judges an agent's own tools (any name): <c>read_docs</c> results are trusted, everything else has the defaults,
/// and the policy <c>no-delete</c> refuses <c>delete_repo</c> for repositories named <c>prod-*</c>. The profile <c>picked</c> is
/// <c>guard</c> with a tool selection: of <c>mail</c> only <c>send</c> and <c>read_*</c> but not <c>read_secret*</c>.
/// </summary>
public sealed class ToolGuardFixture : IAsyncLifetime
{
    public const string VirtualKey = "vk-guard-0123456789";

    internal FakeProvider Fake { get; private set; } = null!;

    internal GatewayHarness Gateway { get; private set; } = null!;

    public Uri OpenAiBase(string profile = "guard") => new(Gateway.BaseUrl, $"/v1/openai/{profile}");

    public Uri AnthropicBase(string profile = "guard") => new(Gateway.BaseUrl, $"/v1/anthropic/{profile}");

    public Uri GeminiBase(string profile = "guard") => new(Gateway.BaseUrl, $"/v1/gemini/{profile}");

    public async ValueTask InitializeAsync()
    {
        Fake = await FakeProvider.StartAsync();
        var settings = new Dictionary<string, ToolSettings>
        {
            ["mail__*"] = new(ResultTreatment: ResultTreatment.Trusted),
            ["web__search"] = new(AllowUsageWhenUntrustedDataIsPresent: true),
        };
        var definitions = new PolicySetDefinition(
            [
                new PolicyDefinition(
                    "no-wire",
                    "mail__send",
                    [new PolicyCondition("to", "endsWith", "@evil.example")],
                    "block_always",
                    "mail to evil.example is never sent",
                    []
                ),
                new PolicyDefinition("approve-payments", "mail__pay", [], "require_approval", "payments need a person", []),
                new PolicyDefinition(
                    "no-delete",
                    "delete_repo",
                    [new PolicyCondition("repo", "startsWith", "prod-")],
                    "block_always",
                    "production repositories are never deleted by agents",
                    ["agent"]
                ),
            ],
            [
                new PolicyDefinition(
                    "internal-pages",
                    "web__fetch",
                    [new PolicyCondition("content[*].text", "startsWith", "internal:")],
                    "mark_as_trusted",
                    "internal pages are ours",
                    []
                ),
            ],
            [
                new ProfilePolicyInput("guard", ["web", "mail"], settings),
                new ProfilePolicyInput("unguarded", ["web", "mail"], settings),
                new ProfilePolicyInput("picked", ["web", "mail"], settings),
                new ProfilePolicyInput(
                    "agent",
                    [],
                    new Dictionary<string, ToolSettings>
                    {
                        ["read_docs"] = new(ResultTreatment: ResultTreatment.Trusted),
                        ["*"] = new(AllowUsageWhenUntrustedDataIsPresent: false),
                    },
                    AgentTools: true
                ),
            ]
        );
        var compiled = PolicyCompiler.Compile(definitions);
        Assert.True(compiled.Snapshot is not null, string.Join("\n", compiled.Errors));
        var providers = new[]
        {
            new LlmProviderConfig
            {
                Name = "openai",
                Kind = LlmProviderKind.OpenAi,
                BaseUrl = Fake.OpenAiBaseUrl,
                ApiKey = "sk-openai",
            },
            new LlmProviderConfig
            {
                Name = "anthropic",
                Kind = LlmProviderKind.Anthropic,
                BaseUrl = Fake.BaseUrl,
                ApiKey = "sk-ant",
            },
            new LlmProviderConfig
            {
                Name = "gemini",
                Kind = LlmProviderKind.Gemini,
                BaseUrl = Fake.GeminiBaseUrl,
                ApiKey = "AIza-gemini",
            },
        };
        var llm = new ProfileLlmConfig
        {
            OpenAi = "openai",
            Anthropic = "anthropic",
            Gemini = "gemini",
            VirtualKeyHashes = [SHA256.HashData(Encoding.UTF8.GetBytes(VirtualKey))],
        };
        Gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                AdminKeys = Tests.Admin.AdminClient.FileKeys,
                LlmProviders = providers,
                Profiles =
                [
                    new ProfileConfig
                    {
                        Name = "guard",
                        Servers = [],
                        Llm = llm,
                    },
                    new ProfileConfig
                    {
                        Name = "unguarded",
                        Servers = [],
                        Llm = llm with { ToolGuard = false },
                    },
                    new ProfileConfig
                    {
                        Name = "picked",
                        Servers = [],
                        Llm = llm,
                        ToolSelection = new Dictionary<string, ToolSelectionConfig> { ["mail"] = new(["send", "read_*"], ["read_secret*"]) },
                    },
                    new ProfileConfig
                    {
                        Name = "agent",
                        Servers = [],
                        Llm = llm,
                    },
                ],
                PolicyDefinitions = definitions,
                Policies = compiled.Snapshot!,
            },
            enforceToolDefaults: true
        );
    }

    internal Task<IReadOnlyList<Archestra.Storage.LlmInteractionRecord>> AuditAsync(string model, int count = 1) =>
        LlmProxyFixture.AuditAsync(Gateway, model, count);

    public async ValueTask DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Fake.DisposeAsync();
    }
}
