using System.Security.Cryptography;
using System.Text;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;
using Archestra.Storage;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>
/// One fake provider and one gateway whose profiles reach it: <c>team</c> (virtual key), <c>byok</c> (pass-through),
/// and <c>budget</c>, <c>shared</c>, <c>quota</c>, <c>rules</c> and <c>embeddings</c> (virtual key; for tests that give them limits or
/// optimization rules through the admin API, so no other test is affected).
/// </summary>
public sealed class LlmProxyFixture : IAsyncLifetime
{
    public const string VirtualKey = "vk-team-0123456789";
    public const string OpenAiProviderKey = "sk-provider-openai";
    public const string AnthropicProviderKey = "sk-ant-provider";
    public const string GeminiProviderKey = "AIza-provider-gemini";

    internal FakeProvider Fake { get; private set; } = null!;

    internal GatewayHarness Gateway { get; private set; } = null!;

    public Uri OpenAiBase(string profile = "team") => new(Gateway.BaseUrl, $"/v1/openai/{profile}");

    public Uri AnthropicBase(string profile = "team") => new(Gateway.BaseUrl, $"/v1/anthropic/{profile}");

    public Uri GeminiBase(string profile = "team") => new(Gateway.BaseUrl, $"/v1/gemini/{profile}");

    public async ValueTask InitializeAsync()
    {
        Fake = await FakeProvider.StartAsync();
        // The error tests here assert what one upstream answer does: no retries, and no circuit opened by them
        // for the tests that share these providers (ResilienceTests covers both).
        var once = new LlmResilienceConfig { Retries = 0, MinimumThroughput = 1_000_000 };
        var providers = new[]
        {
            new LlmProviderConfig
            {
                Name = "openai",
                Kind = LlmProviderKind.OpenAi,
                BaseUrl = Fake.OpenAiBaseUrl,
                ApiKey = OpenAiProviderKey,
                Resilience = once,
            },
            new LlmProviderConfig
            {
                Name = "anthropic",
                Kind = LlmProviderKind.Anthropic,
                BaseUrl = Fake.BaseUrl,
                ApiKey = AnthropicProviderKey,
                Resilience = once,
            },
            new LlmProviderConfig
            {
                Name = "gemini",
                Kind = LlmProviderKind.Gemini,
                BaseUrl = Fake.GeminiBaseUrl,
                ApiKey = GeminiProviderKey,
                Resilience = once,
            },
        };
        var team = new ProfileLlmConfig
        {
            OpenAi = "openai",
            Anthropic = "anthropic",
            Gemini = "gemini",
            VirtualKeyHashes = [SHA256.HashData(Encoding.UTF8.GetBytes(VirtualKey))],
        };
        var byok = new ProfileLlmConfig
        {
            OpenAi = "openai",
            Anthropic = "anthropic",
            Gemini = "gemini",
            PassThrough = true,
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
                        Name = "team",
                        Servers = [],
                        Llm = team,
                    },
                    new ProfileConfig
                    {
                        Name = "byok",
                        Servers = [],
                        Llm = byok,
                    },
                    new ProfileConfig
                    {
                        Name = "budget",
                        Servers = [],
                        Llm = team,
                    },
                    new ProfileConfig
                    {
                        Name = "shared",
                        Servers = [],
                        Llm = team,
                    },
                    new ProfileConfig
                    {
                        Name = "quota",
                        Servers = [],
                        Llm = team,
                    },
                    new ProfileConfig
                    {
                        Name = "rules",
                        Servers = [],
                        Llm = team,
                    },
                    new ProfileConfig
                    {
                        Name = "embeddings",
                        Servers = [],
                        Llm = team,
                    },
                ],
            }
        );
    }

    /// <summary>The audit rows of one requested model, once the writer has stored <paramref name="count"/> of them.</summary>
    internal Task<IReadOnlyList<LlmInteractionRecord>> AuditAsync(string model, int count = 1) => AuditAsync(Gateway, model, count);

    /// <summary>The audit rows of one requested model in <paramref name="gateway"/>, once the writer has stored <paramref name="count"/> of them.</summary>
    internal static async Task<IReadOnlyList<LlmInteractionRecord>> AuditAsync(GatewayHarness gateway, string model, int count = 1)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var page = await gateway.Server.Store.ListLlmInteractionsAsync(new LlmInteractionQuery { Model = model, Limit = 100 });
            var rows = page.Items.Where(r => r.RequestedModel == model).ToList();
            if (rows.Count >= count || DateTime.UtcNow > deadline)
            {
                Assert.Equal(count, rows.Count);
                return rows;
            }

            await Task.Delay(25);
        }
    }

    internal Tests.Admin.AdminClient Admin() => new(Gateway.Server.AdminUrl, Tests.Admin.AdminClient.RootKey);

    public async ValueTask DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Fake.DisposeAsync();
    }
}
