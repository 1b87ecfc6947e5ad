using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;
using Archestra.Policy;
using Archestra.Storage;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>
/// A fake provider and a gateway whose open LLM profiles carry trusted-data policies for the tools <c>web__fetch</c>
/// (withheld when it mentions SECRET), <c>mail__read</c> (sanitize_with_dual_llm) and <c>db__*</c> (trusted):
/// <c>dual</c> quarantines on the Anthropic provider, <c>dualo</c> on the OpenAI one, <c>nodual</c> has no
/// quarantine, <c>toon</c> converts JSON results to TOON. Each dual-LLM test uses its own profile, so audit rows
/// of the quarantine model are not shared between tests.
/// </summary>
public sealed class RewriteFixture : IAsyncLifetime
{
    public const string QuarantineModel = "claude-haiku-4-5";
    public const string OpenAiQuarantineModel = "gpt-4o-mini";

    /// <summary>Profiles that quarantine on Anthropic's claude-haiku-4-5, one per test that counts its rows.</summary>
    public static readonly string[] DualProfiles = ["dual", "dual-cache", "dual-bad", "dual-down", "dual-guard"];

    internal FakeProvider Fake { get; private set; } = null!;

    internal GatewayHarness Gateway { get; private set; } = null!;

    public Uri OpenAiBase(string profile) => new(Gateway.BaseUrl, $"/v1/openai/{profile}");

    public Uri AnthropicBase(string profile) => new(Gateway.BaseUrl, $"/v1/anthropic/{profile}");

    public Uri GeminiBase(string profile) => new(Gateway.BaseUrl, $"/v1/gemini/{profile}");

    public async ValueTask InitializeAsync()
    {
        Fake = await FakeProvider.StartAsync();
        var providers = new[]
        {
            new LlmProviderConfig
            {
                Name = "openai",
                Kind = LlmProviderKind.OpenAi,
                BaseUrl = Fake.OpenAiBaseUrl,
                ApiKey = LlmProxyFixture.OpenAiProviderKey,
            },
            new LlmProviderConfig
            {
                Name = "anthropic",
                Kind = LlmProviderKind.Anthropic,
                BaseUrl = Fake.BaseUrl,
                ApiKey = LlmProxyFixture.AnthropicProviderKey,
            },
            new LlmProviderConfig
            {
                Name = "gemini",
                Kind = LlmProviderKind.Gemini,
                BaseUrl = Fake.GeminiBaseUrl,
                ApiKey = LlmProxyFixture.GeminiProviderKey,
            },
        };
        var llm = new ProfileLlmConfig
        {
            OpenAi = "openai",
            Anthropic = "anthropic",
            Gemini = "gemini",
        };
        var profiles = new List<(string Name, ProfileLlmConfig Llm)>();
        foreach (var name in DualProfiles)
        {
            profiles.Add(
                (
                    name,
                    llm with
                    {
                        DualLlm = new DualLlmConfig
                        {
                            Provider = "anthropic",
                            Model = QuarantineModel,
                            MaxRounds = 2,
                        },
                    }
                )
            );
        }

        profiles.Add(
            (
                "dualo",
                llm with
                {
                    DualLlm = new DualLlmConfig
                    {
                        Provider = "openai",
                        Model = OpenAiQuarantineModel,
                        MaxRounds = 1,
                    },
                }
            )
        );
        profiles.Add(
            (
                "dualg",
                llm with
                {
                    DualLlm = new DualLlmConfig
                    {
                        Provider = "openai",
                        Model = OpenAiQuarantineModel,
                        MaxRounds = 1,
                    },
                }
            )
        );
        profiles.Add(("nodual", llm));
        profiles.Add(("toon", llm with { Toon = true }));
        profiles.Add(("withheld", llm with { Toon = true }));

        var servers = new[] { "web", "mail", "db" };
        var tools = new Dictionary<string, ToolSettings> { ["db__*"] = new(ResultTreatment: ResultTreatment.Trusted) };
        var trusted = new List<PolicyDefinition>
        {
            new(
                "withhold-secrets",
                "web__fetch",
                [new PolicyCondition("content[*].text", "contains", "SECRET")],
                "block_always",
                "pages that mention SECRET never reach the model",
                []
            ),
            new("quarantine-mail", "mail__read", [], "sanitize_with_dual_llm", "mail is written by outsiders", []),
        };
        var compiled = PolicyCompiler.Compile(new PolicySetDefinition([], trusted, [.. profiles.Select(p => new ProfilePolicyInput(p.Name, servers, tools))]));
        Assert.Empty(compiled.Errors);
        Gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                AdminKeys = Tests.Admin.AdminClient.FileKeys,
                LlmProviders = providers,
                Profiles =
                [
                    .. profiles.Select(p => new ProfileConfig
                    {
                        Name = p.Name,
                        Servers = [],
                        Llm = p.Llm,
                    }),
                ],
                Policies = compiled.Snapshot!,
            },
            enforceToolDefaults: true
        );
    }

    /// <summary>The bodies the provider received for <paramref name="model"/> that were not dual-LLM side calls.</summary>
    internal List<string> MainBodies(string model) =>
        [
            .. Fake
                .Requests.Where(r =>
                    !IsSideCall(r.Body)
                    && (JsonDocument.Parse(r.Body).RootElement.TryGetProperty("model", out var m) ? m.GetString() : GeminiModel(r.Path)) == model
                )
                .Select(r => r.Body),
        ];

    internal List<FakeProvider.Received> SideCalls(string role) =>
        [.. Fake.Requests.Where(r => r.Body.Contains(role == "question" ? "\"ask_question\"" : "\"answer\"", StringComparison.Ordinal) && IsSideCall(r.Body))];

    private static bool IsSideCall(string body) =>
        body.Contains("\"response_format\"", StringComparison.Ordinal)
        || body.Contains("\"tool_choice\"", StringComparison.Ordinal)
        || body.Contains("\"responseJsonSchema\"", StringComparison.Ordinal);

    /// <summary>The model a Gemini request's path names (<c>/gemini/v1beta/models/MODEL:generateContent</c>).</summary>
    private static string? GeminiModel(string path) => path.Contains("/models/", StringComparison.Ordinal) ? path.Split("/models/")[1].Split(':')[0] : null;

    /// <summary>The audit rows of one profile and model, once the writer has stored <paramref name="count"/> of them.</summary>
    internal async Task<IReadOnlyList<LlmInteractionRecord>> AuditAsync(string profile, string model, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var page = await Gateway.Server.Store.ListLlmInteractionsAsync(new LlmInteractionQuery { Model = model, Limit = 100 });
            var rows = page.Items.Where(r => r.RequestedModel == model && r.Profile == profile).ToList();
            if (rows.Count >= count || DateTime.UtcNow > deadline)
            {
                Assert.Equal(count, rows.Count);
                return rows;
            }

            await Task.Delay(25);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Fake.DisposeAsync();
    }
}
