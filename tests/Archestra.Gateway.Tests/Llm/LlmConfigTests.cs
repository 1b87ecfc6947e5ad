using System.Security.Cryptography;
using System.Text;
using Archestra.Gateway.Configuration;

namespace Archestra.Gateway.Tests.Llm;

public sealed class LlmConfigTests
{
    private const string Source = "archestra.json";

    private static ConfigLoadResult Load(string json) => ConfigLoader.LoadFromJson(json, Source, name => name switch
            {
                "OPENAI_KEY" => "sk-openai",
                "TEAM_KEY" => "vk-team",
                _ => null,
            });

    [Fact]
    public void An_llm_profile_takes_policies_and_settings_for_its_agents_own_tools()
    {
        var result = Load(
            """
            {
              "llmProviders": { "openai": { "kind": "openai", "apiKey": "env:OPENAI_KEY" } },
              "profiles": {
                "agents": { "llm": { "openai": "openai" }, "tools": { "read_docs": { "resultTreatment": "trusted" },
                  "*": { "allowUsageWhenUntrustedDataIsPresent": true } } }
              },
              "policies": {
                "toolInvocation": [ { "id": "no-delete", "tool": "delete_repo", "action": "block_always", "reason": "never" } ]
              }
            }
            """
        );

        Assert.Empty(result.Errors);
        var policies = result.Config!.Policies.ForProfile("agents");
        Assert.Equal(Archestra.Policy.ResultTreatment.Trusted, policies.SettingsFor("read_docs").ResultTreatment);
        Assert.Equal("no-delete", policies.EvaluateInvocation("delete_repo", "{}"u8, contextTrusted: true).PolicyId);
    }

    [Fact]
    public void A_profile_without_llm_still_refuses_a_plain_tool_name_and_says_where_it_would_be_accepted()
    {
        var result = Load(
            """
            {
              "mcpServers": { "fs": { "command": "node", "args": ["x.js"] } },
              "profiles": { "dev": { "servers": ["fs"], "tools": { "read_docs": { "resultTreatment": "trusted" } } } }
            }
            """
        );

        var error = Assert.Single(result.Errors);
        Assert.Contains("$.profiles.dev.tools.read_docs", error, StringComparison.Ordinal);
        Assert.Contains("expected a namespaced tool name", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Providers_and_an_llm_only_profile_are_read_with_defaults()
    {
        var result = Load(
            """
            {
              "llmProviders": {
                "openai": { "kind": "openai", "apiKey": "env:OPENAI_KEY" },
                "local": { "kind": "openai", "baseUrl": "http://10.0.0.9:8000/v1/", "timeoutSeconds": 30 },
                "claude": { "kind": "anthropic", "apiKey": "env:OPENAI_KEY" }
              },
              "profiles": {
                "team": { "llm": { "openai": "openai", "anthropic": "claude", "virtualKeys": ["env:TEAM_KEY"] } },
                "byok": { "llm": { "openai": "local", "passThrough": true, "toolGuard": false } }
              }
            }
            """
        );

        Assert.Empty(result.Errors);
        var config = result.Config!;
        Assert.Equal(new Uri("https://api.openai.com/v1"), config.LlmProviders[0].BaseUrl);
        Assert.Equal("sk-openai", config.LlmProviders[0].ApiKey);
        Assert.Equal(TimeSpan.FromSeconds(600), config.LlmProviders[0].Timeout);
        Assert.Equal(new Uri("http://10.0.0.9:8000/v1"), config.LlmProviders[1].BaseUrl);
        Assert.Equal(new Uri("https://api.anthropic.com"), config.LlmProviders[2].BaseUrl);
        var team = config.Profiles[0];
        Assert.Empty(team.Servers);
        Assert.Equal(("openai", "claude", false), (team.Llm!.OpenAi, team.Llm.Anthropic, team.Llm.PassThrough));
        Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes("vk-team")), Assert.Single(team.Llm.VirtualKeyHashes));
        Assert.True(config.Profiles[1].Llm!.PassThrough);
        Assert.Equal((true, false), (team.Llm.ToolGuard, config.Profiles[1].Llm!.ToolGuard));
    }

    [Fact]
    public void Several_keys_and_the_resilience_settings_are_read_in_order_with_defaults_for_the_rest()
    {
        const string json = """
            {
              "llmProviders": {
                "openai": {
                  "kind": "openai", "apiKeys": ["env:OPENAI_KEY", "env:TEAM_KEY"], "connectTimeoutSeconds": 3, "retries": 4,
                  "maxRetryAfterSeconds": 12, "circuitBreaker": { "failureRatio": 0.25, "minimumThroughput": 20, "breakSeconds": 60 }
                },
                "plain": { "kind": "openai", "apiKey": "env:OPENAI_KEY" }
              }
            }
            """;
        var result = Load(json);

        Assert.Empty(result.Errors);
        var openai = result.Config!.LlmProviders[0];
        Assert.Equal([("OPENAI_KEY", "sk-openai"), ("TEAM_KEY", "vk-team")], openai.Keys.Select(k => (k.Name, k.Value)));
        Assert.Equal("sk-openai", openai.ApiKey);
        var r = openai.Resilience;
        Assert.Equal((TimeSpan.FromSeconds(3), 4, TimeSpan.FromSeconds(12)), (r.ConnectTimeout, r.Retries, r.MaxRetryAfter));
        Assert.Equal(
            (0.25, 20, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(60)),
            (r.FailureRatio, r.MinimumThroughput, r.SamplingDuration, r.BreakDuration)
        );
        Assert.Equal(new LlmResilienceConfig(), result.Config.LlmProviders[1].Resilience);
        Assert.Equal(
            (TimeSpan.FromSeconds(10), 2, 0.5, 10),
            (
                new LlmResilienceConfig().ConnectTimeout,
                new LlmResilienceConfig().Retries,
                new LlmResilienceConfig().FailureRatio,
                new LlmResilienceConfig().MinimumThroughput
            )
        );

        // Loaded twice, a provider is equal to itself: a reload keeps its connections and circuits.
        Assert.Equal(openai, Load(json).Config!.LlmProviders[0]);
        Assert.NotEqual(openai, openai with { Keys = [openai.Keys[1], openai.Keys[0]] });
    }

    [Fact]
    public void A_dual_llm_quarantine_and_toon_are_read_with_their_defaults()
    {
        var result = Load(
            """
            {
              "llmProviders": {
                "openai": { "kind": "openai", "apiKey": "env:OPENAI_KEY" },
                "claude": { "kind": "anthropic", "apiKey": "env:OPENAI_KEY" }
              },
              "profiles": {
                "a": { "llm": { "openai": "openai", "toon": true, "dualLlm": { "provider": "claude", "model": "claude-haiku-4-5" } } },
                "b": { "llm": { "openai": "openai", "dualLlm": { "provider": "openai", "model": "gpt-5-nano", "mainModel": "gpt-5-mini", "maxRounds": 5 } } }
              }
            }
            """
        );

        Assert.Empty(result.Errors);
        var a = result.Config!.Profiles[0].Llm!;
        Assert.True(a.Toon);
        Assert.Equal(
            new DualLlmConfig
            {
                Provider = "claude",
                Model = "claude-haiku-4-5",
                MainModel = null,
                MaxRounds = 3,
            },
            a.DualLlm
        );
        var b = result.Config.Profiles[1].Llm!;
        Assert.False(b.Toon);
        Assert.Equal(
            new DualLlmConfig
            {
                Provider = "openai",
                Model = "gpt-5-nano",
                MainModel = "gpt-5-mini",
                MaxRounds = 5,
            },
            b.DualLlm
        );
    }

    public static TheoryData<string, string> InvalidConfigs =>
        new()
        {
            {
                """{"llmProviders": {"o": {"kind": "openai", "apiKey": "sk-inline"}}}""",
                "$.llmProviders.o.apiKey: secrets are never written inline: use env:NAME"
            },
            { """{"llmProviders": {"o": {"kind": "mistral"}}}""", "$.llmProviders.o.kind: expected one of openai, anthropic, gemini, got 'mistral'" },
            { """{"llmProviders": {"o": {"apiKey": "env:OPENAI_KEY"}}}""", "$.llmProviders.o: expected kind: \"openai\", \"anthropic\" or \"gemini\"" },
            {
                """{"llmProviders": {"o": {"kind": "openai", "baseUrl": "ftp://x"}}}""",
                "$.llmProviders.o.baseUrl: expected an absolute http:// or https:// URL without query, such as https://api.openai.com/v1, got 'ftp://x'"
            },
            {
                """{"llmProviders": {"o": {"kind": "openai", "key": "env:OPENAI_KEY"}}}""",
                "$.llmProviders.o.key: unknown key; expected one of: kind, baseUrl, apiKey, apiKeys, timeoutSeconds, "
                    + "connectTimeoutSeconds, retries, maxRetryAfterSeconds, circuitBreaker"
            },
            {
                """{"llmProviders": {"o": {"kind": "openai", "apiKey": "env:OPENAI_KEY", "apiKeys": ["env:TEAM_KEY"]}}}""",
                "$.llmProviders.o.apiKeys: give either apiKey or apiKeys, not both"
            },
            {
                """{"llmProviders": {"o": {"kind": "openai", "apiKeys": []}}}""",
                "$.llmProviders.o.apiKeys: expected a non-empty array of env:NAME references, in fallback order, got an array"
            },
            {
                """{"llmProviders": {"o": {"kind": "openai", "apiKeys": ["env:OPENAI_KEY", "sk-inline"]}}}""",
                "$.llmProviders.o.apiKeys[1]: secrets are never written inline: use env:NAME"
            },
            {
                """{"llmProviders": {"o": {"kind": "openai", "apiKeys": ["env:OPENAI_KEY", "env:OPENAI_KEY"]}}}""",
                "$.llmProviders.o.apiKeys[1]: OPENAI_KEY is already in the list"
            },
            { """{"llmProviders": {"o": {"kind": "openai", "retries": 11}}}""", "$.llmProviders.o.retries: expected an integer between 0 and 10, got 11" },
            {
                """{"llmProviders": {"o": {"kind": "openai", "connectTimeoutSeconds": 0}}}""",
                "$.llmProviders.o.connectTimeoutSeconds: expected an integer between 1 and 600, got 0"
            },
            {
                """{"llmProviders": {"o": {"kind": "openai", "circuitBreaker": {"failureRatio": 1.5}}}}""",
                "$.llmProviders.o.circuitBreaker.failureRatio: expected a share of failed attempts above 0 and at most 1 (0.5 is half), got 1.5"
            },
            {
                """{"llmProviders": {"o": {"kind": "openai", "circuitBreaker": {"minimumThroughput": 1}}}}""",
                "$.llmProviders.o.circuitBreaker.minimumThroughput: expected an integer between 2 and 1000000, got 1"
            },
            {
                """{"llmProviders": {"o": {"kind": "openai", "circuitBreaker": {"breakSeconds": 5, "open": true}}}}""",
                "$.llmProviders.o.circuitBreaker.open: unknown key; expected one of: failureRatio, minimumThroughput, samplingSeconds, breakSeconds"
            },
            {
                """{"profiles": {"p": {"llm": {"openai": "nope"}}}}""",
                "$.profiles.p.llm.openai: unknown provider 'nope'; no providers are configured in $.llmProviders"
            },
            {
                """{"llmProviders": {"a": {"kind": "anthropic", "apiKey": "env:OPENAI_KEY"}}, "profiles": {"p": {"llm": {"openai": "a"}}}}""",
                "$.profiles.p.llm.openai: provider 'a' is of kind anthropic; this endpoint needs kind openai"
            },
            {
                """{"llmProviders": {"o": {"kind": "openai"}}, "profiles": {"p": {"llm": {"openai": "o"}}}}""",
                "$.profiles.p.llm.openai: provider 'o' has no apiKey; give it one (env:NAME) or set passThrough: true"
            },
            {
                """{"llmProviders": {"o": {"kind": "openai"}}, "profiles": {"p": {"llm": {"openai": "o", "passThrough": true,"""
                    + """ "virtualKeys": ["env:TEAM_KEY"]}}}}""",
                "$.profiles.p.llm.virtualKeys: virtualKeys and passThrough: true exclude each other: with pass-through the client's own "
                    + "provider key is forwarded"
            },
            {
                """{"profiles": {"p": {"llm": {"virtualKeys": ["plain-key"]}}}}""",
                "$.profiles.p.llm.virtualKeys[0]: secrets are never written inline: use env:NAME or sha256:HEX"
            },
            {
                """{"profiles": {"p": {"llm": {}}}}""",
                "$.profiles.p.llm: expected at least one of openai, anthropic or gemini: the name of an entry in $.llmProviders"
            },
            {
                """{"profiles": {"p": {"llm": {"mistral": "x"}}}}""",
                "$.profiles.p.llm.mistral: unknown key; expected one of: openai, anthropic, gemini, virtualKeys, passThrough, toolGuard, dualLlm, toon"
            },
            {
                """{"llmProviders": {"o": {"kind": "openai", "apiKey": "env:OPENAI_KEY"}}, "profiles": {"p": {"llm": {"openai": "o", "toon": "yes"}}}}""",
                "$.profiles.p.llm.toon: expected a boolean, got a string"
            },
            {
                """{"llmProviders": {"o": {"kind": "openai", "apiKey": "env:OPENAI_KEY"}}, "profiles": {"p": {"llm": {"openai": "o","""
                    + """ "dualLlm": {"provider": "q", "model": "m"}}}}}""",
                "$.profiles.p.llm.dualLlm.provider: unknown provider 'q'; expected one of: o"
            },
            {
                """{"llmProviders": {"o": {"kind": "openai", "apiKey": "env:OPENAI_KEY"}, "local": {"kind": "openai"}}, "profiles": """
                    + """{"p": {"llm": {"openai": "o", "dualLlm": {"provider": "local", "model": "m"}}}}}""",
                "$.profiles.p.llm.dualLlm.provider: provider 'local' has no apiKey; the quarantined model is called with the provider's own key (env:NAME)"
            },
            {
                """{"llmProviders": {"o": {"kind": "openai", "apiKey": "env:OPENAI_KEY"}}, "profiles": {"p": {"llm": {"openai": "o","""
                    + """ "dualLlm": {"provider": "o"}}}}}""",
                "$.profiles.p.llm.dualLlm: expected provider (an entry in $.llmProviders) and model: the quarantined model that reads "
                    + "sanitize_with_dual_llm results"
            },
            {
                """{"llmProviders": {"o": {"kind": "openai", "apiKey": "env:OPENAI_KEY"}}, "profiles": {"p": {"llm": {"openai": "o","""
                    + """ "dualLlm": {"provider": "o", "model": "m", "maxRounds": 9}}}}}""",
                "$.profiles.p.llm.dualLlm.maxRounds: expected an integer between 1 and 5, got 9"
            },
            {
                """{"llmProviders": {"o": {"kind": "openai", "apiKey": "env:OPENAI_KEY"}}, "profiles": {"p": {"llm": {"openai": "o","""
                    + """ "dualLlm": {"provider": "o", "model": ""}}}}}""",
                "$.profiles.p.llm.dualLlm.model: expected a model name (1 to 256 characters), got ''"
            },
            {
                """{"llmProviders": {"o": {"kind": "openai", "apiKey": "env:OPENAI_KEY"}}, "profiles": {"p": {"llm": {"openai": "o","""
                    + """ "dualLlm": {"provider": "o", "model": "m", "rounds": 2}}}}}""",
                "$.profiles.p.llm.dualLlm.rounds: unknown key; expected one of: provider, model, mainModel, maxRounds"
            },
            {
                """{"llmProviders": {"o": {"kind": "openai", "apiKey": "env:OPENAI_KEY"}}, "profiles": {"p": {"llm": {"openai": "o", "toolGuard": "yes"}}}}""",
                "$.profiles.p.llm.toolGuard: expected a boolean, got a string"
            },
        };

    [Theory]
    [MemberData(nameof(InvalidConfigs))]
    public void An_invalid_llm_section_names_the_json_path_and_what_was_expected(string json, string expected)
    {
        var result = Load(json);
        Assert.Contains($"{Source}: {expected}", result.Errors);
    }
}
