using System.ClientModel;
using System.ClientModel.Primitives;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Anthropic;
using Anthropic.Models.Messages;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Admin;
using Archestra.Gateway.Tests.Infrastructure;
using Archestra.Storage;
using OpenAI;
using OpenAI.Chat;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>
/// One fake provider behind several providers, one per behaviour, so a circuit opened by one test touches no other:
/// <c>retry</c> and <c>claude</c> (2 retries, short backoff), <c>keys</c> (two keys), <c>breaker</c> (no retries,
/// opens after 2 failures), <c>down</c> (a closed port). Each has a profile of the same name.
/// </summary>
public sealed class ResilienceFixture : IAsyncLifetime
{
    public const string VirtualKey = "vk-resilience-0123456789";
    public const string SecretKey = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";

    internal FakeProvider Fake { get; private set; } = null!;

    internal GatewayHarness Gateway { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Fake = await FakeProvider.StartAsync();
        var quick = new LlmResilienceConfig { RetryDelay = TimeSpan.FromMilliseconds(20), MinimumThroughput = 1_000_000 };
        var providers = new[]
        {
            new LlmProviderConfig
            {
                Name = "retry",
                Kind = LlmProviderKind.OpenAi,
                BaseUrl = Fake.OpenAiBaseUrl,
                ApiKey = "sk-retry",
                Resilience = quick,
            },
            new LlmProviderConfig
            {
                Name = "claude",
                Kind = LlmProviderKind.Anthropic,
                BaseUrl = Fake.BaseUrl,
                ApiKey = "sk-ant-retry",
                Resilience = quick,
            },
            new LlmProviderConfig
            {
                Name = "keys",
                Kind = LlmProviderKind.OpenAi,
                BaseUrl = Fake.OpenAiBaseUrl,
                Resilience = quick,
                Keys = [new LlmProviderKey("KEY_A", "sk-key-a"), new LlmProviderKey("KEY_B", "sk-key-b")],
            },
            new LlmProviderConfig
            {
                Name = "breaker",
                Kind = LlmProviderKind.OpenAi,
                BaseUrl = Fake.OpenAiBaseUrl,
                ApiKey = "sk-breaker",
                Resilience = new LlmResilienceConfig
                {
                    Retries = 0,
                    MinimumThroughput = 2,
                    FailureRatio = 0.5,
                    BreakDuration = TimeSpan.FromMinutes(5),
                },
            },
            new LlmProviderConfig
            {
                Name = "down",
                Kind = LlmProviderKind.OpenAi,
                BaseUrl = new Uri($"http://127.0.0.1:{ClosedPort()}/v1"),
                ApiKey = "sk-down",
                Resilience = quick,
            },
        };
        var llm = new ProfileLlmConfig { VirtualKeyHashes = [SHA256.HashData(Encoding.UTF8.GetBytes(VirtualKey))] };
        Gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                AdminKeys = AdminClient.FileKeys,
                LlmProviders = providers,
                Profiles =
                [
                    new ProfileConfig
                    {
                        Name = "retry",
                        Servers = [],
                        Llm = llm with { OpenAi = "retry", Anthropic = "claude" },
                    },
                    new ProfileConfig
                    {
                        Name = "keys",
                        Servers = [],
                        Llm = llm with { OpenAi = "keys" },
                    },
                    new ProfileConfig
                    {
                        Name = "breaker",
                        Servers = [],
                        Llm = llm with { OpenAi = "breaker" },
                    },
                    new ProfileConfig
                    {
                        Name = "down",
                        Servers = [],
                        Llm = llm with { OpenAi = "down" },
                    },
                ],
            },
            getEnv: name => name == "ARCHESTRA_SECRET_KEY" ? SecretKey : Environment.GetEnvironmentVariable(name)
        );
    }

    /// <summary>A loopback port nothing listens on: bound, then released.</summary>
    private static int ClosedPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    internal async Task<LlmInteractionRecord> AuditAsync(string model)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            var page = await Gateway.Server.Store.ListLlmInteractionsAsync(new LlmInteractionQuery { Model = model, Limit = 10 });
            if (page.Items.FirstOrDefault(r => r.RequestedModel == model) is { } row)
            {
                return row;
            }

            Assert.True(DateTime.UtcNow < deadline, $"no audit row for {model}");
            await Task.Delay(25);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Fake.DisposeAsync();
    }
}

/// <summary>Retries, key fallback and the circuit breaker, seen through the official SDKs with their own retries off.</summary>
public sealed class ResilienceTests(ResilienceFixture fixture) : IClassFixture<ResilienceFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ChatClient Chat(string model, string profile) =>
        new(
            model,
            new ApiKeyCredential(ResilienceFixture.VirtualKey),
            new OpenAIClientOptions { Endpoint = new Uri(fixture.Gateway.BaseUrl, $"/v1/openai/{profile}"), RetryPolicy = new ClientRetryPolicy(0) }
        );

    private async Task<string> MetricsAsync()
    {
        using var http = new HttpClient();
        return await http.GetStringAsync(new Uri(fixture.Gateway.Server.MetricsUrl, "/metrics"), Ct);
    }

    private static string Text(ChatCompletion completion) => completion.Content[0].Text;

    [Fact]
    public async Task A_500_then_a_200_is_retried_and_the_sdk_sees_one_clean_answer()
    {
        fixture.Fake.Script("retry-500", new FakeProvider.Failure(500));

        var completion = (await Chat("retry-500", "retry").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct)).Value;

        Assert.Equal(FakeProvider.OpenAiText, Text(completion));
        Assert.Equal(2, fixture.Fake.For("retry-500").Count);
        var row = await fixture.AuditAsync("retry-500");
        Assert.Equal(("ok", null), (row.Status, row.Error));
        Assert.Equal(12, row.InputTokens);
        Assert.Contains("llm_upstream_retries_total{provider=\"retry\",reason=\"5xx\"}", await MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_429_with_Retry_After_is_retried_no_sooner_than_the_header_asks()
    {
        fixture.Fake.Script("claude-429", new FakeProvider.Failure(429, RetryAfter: "1"));
        var client = new AnthropicClient
        {
            ApiKey = ResilienceFixture.VirtualKey,
            BaseUrl = new Uri(fixture.Gateway.BaseUrl, "/v1/anthropic/retry").ToString(),
            MaxRetries = 0,
        };

        var message = await client.Messages.Create(
            new MessageCreateParams
            {
                Model = "claude-429",
                MaxTokens = 10,
                Messages = [new UserMessageParam("hi")],
            },
            Ct
        );

        Assert.True(message.Content[0].TryPickText(out var text));
        Assert.Equal(FakeProvider.AnthropicText, text.Text);
        var seen = fixture.Fake.For("claude-429");
        Assert.Equal(2, seen.Count);

        // The fake's own clock: the second attempt arrived at least the asked-for second after the first.
        var gap = Stopwatch.GetElapsedTime(seen[0].At, seen[1].At);
        Assert.True(gap >= TimeSpan.FromSeconds(1), $"the retry came after {gap.TotalMilliseconds} ms");
        Assert.Contains("llm_upstream_retries_total{provider=\"claude\",reason=\"429\"}", await MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_Retry_After_beyond_the_cap_is_relayed_at_once_instead_of_waited_out()
    {
        fixture.Fake.Script("retry-429-long", new FakeProvider.Failure(429, RetryAfter: "120"));

        var error = await Assert.ThrowsAsync<ClientResultException>(() =>
            Chat("retry-429-long", "retry").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct)
        );

        Assert.Equal(429, error.Status);
        Assert.Equal("120", error.GetRawResponse()!.Headers.TryGetValue("Retry-After", out var after) ? after : null);
        Assert.Single(fixture.Fake.For("retry-429-long"));
    }

    [Fact]
    public async Task A_stream_that_breaks_after_its_first_events_is_not_retried()
    {
        var text = new StringBuilder();
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await foreach (var update in Chat("cut", "retry").CompleteChatStreamingAsync([new UserChatMessage("hi")], cancellationToken: Ct))
            {
                foreach (var part in update.ContentUpdate)
                {
                    text.Append(part.Text);
                }
            }
        });

        // The client saw the first events, then the cut: one attempt only, since the answer had started.
        Assert.Equal("Hello from", text.ToString());
        Assert.Single(fixture.Fake.For("cut"));
        Assert.Equal("stream_cut", (await fixture.AuditAsync("cut")).Status);
    }

    [Fact]
    public async Task Key_A_answering_401_moves_the_request_to_key_B()
    {
        fixture.Fake.KeyStatus["sk-key-a"] = 401;

        var completion = (await Chat("keys-401", "keys").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct)).Value;

        Assert.Equal(FakeProvider.OpenAiText, Text(completion));
        Assert.Equal(["sk-key-a", "sk-key-b"], fixture.Fake.For("keys-401").Select(r => r.Key));
        Assert.Equal("ok", (await fixture.AuditAsync("keys-401")).Status);
        Assert.Contains("llm_upstream_key_fallbacks_total{provider=\"keys\",key=\"KEY_A\",reason=\"401\"}", await MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_provider_that_keeps_failing_opens_its_circuit_and_the_next_request_fails_fast_in_the_provider_format()
    {
        fixture.Fake.ModelStatus["breaker-500"] = 500;
        for (var i = 0; i < 2; i++)
        {
            var failed = await Assert.ThrowsAsync<ClientResultException>(() =>
                Chat("breaker-500", "breaker").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct)
            );
            Assert.Equal(500, failed.Status);
        }

        Assert.Equal(2, fixture.Fake.For("breaker-500").Count);
        var error = await Assert.ThrowsAsync<ClientResultException>(() =>
            Chat("breaker-500", "breaker").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct)
        );

        Assert.Equal(503, error.Status);
        Assert.Contains("circuit breaker for provider 'breaker' is open", error.Message, StringComparison.Ordinal);
        Assert.Contains("tried again at", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, fixture.Fake.For("breaker-500").Count);
        var response = error.GetRawResponse()!;
        using (var json = JsonDocument.Parse(response.Content.ToString()))
        {
            Assert.Equal("circuit_open", json.RootElement.GetProperty("error").GetProperty("code").GetString());
        }

        Assert.True(response.Headers.TryGetValue("Retry-After", out var after) && int.Parse(after!, System.Globalization.CultureInfo.InvariantCulture) > 0);
        var metrics = await MetricsAsync();
        Assert.Contains("llm_circuit_open{provider=\"breaker\",key=\"key\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("llm_circuit_transitions_total{provider=\"breaker\",key=\"key\",state=\"open\"} 1", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_connection_is_retried_then_reported_as_unreachable()
    {
        var error = await Assert.ThrowsAsync<ClientResultException>(() =>
            Chat("down-model", "down").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct)
        );

        Assert.Equal(502, error.Status);
        Assert.Contains("could not be reached after 2 retries", error.Message, StringComparison.Ordinal);
        var row = await fixture.AuditAsync("down-model");
        Assert.Equal("upstream_error", row.Status);
        Assert.Contains("after 2 retries", row.Error, StringComparison.Ordinal);
        Assert.Contains("llm_upstream_retries_total{provider=\"down\",reason=\"connect\"} 2", await MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_provider_created_through_the_admin_API_serves_a_profile_with_its_keys_in_order()
    {
        using var admin = new AdminClient(fixture.Gateway.Server.AdminUrl, AdminClient.RootKey);
        fixture.Fake.KeyStatus["sk-db-first"] = 401;
        var provider = await admin.PostAsync(
            "/api/llm/providers",
            $$"""
            {"name": "dbprov", "kind": "openai", "baseUrl": "{{fixture.Fake.OpenAiBaseUrl}}", "retries": 1,
             "apiKeys": [{"name": "zfirst", "key": "sk-db-first"}, {"name": "asecond", "key": "sk-db-second"}]}
            """
        );
        Assert.True(provider.Status == HttpStatusCode.Created, provider.ToString());
        Assert.Equal(["zfirst", "asecond"], provider.Json.GetProperty("apiKeys").EnumerateArray().Select(k => k.GetProperty("name").GetString()));

        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("vk-db-profile")));
        var profile = await admin.PostAsync("/api/profiles", $$$"""{"name": "dbteam", "llm": {"openai": "dbprov", "virtualKeys": ["sha256:{{{hash}}}"]}}""");
        Assert.True(profile.Status == HttpStatusCode.Created, profile.ToString());

        var chat = new ChatClient(
            "db-model",
            new ApiKeyCredential("vk-db-profile"),
            new OpenAIClientOptions { Endpoint = new Uri(fixture.Gateway.BaseUrl, "/v1/openai/dbteam"), RetryPolicy = new ClientRetryPolicy(0) }
        );
        var completion = (await chat.CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct)).Value;

        Assert.Equal(FakeProvider.OpenAiText, Text(completion));
        Assert.Equal(["sk-db-first", "sk-db-second"], fixture.Fake.For("db-model").Select(r => r.Key));
        Assert.Equal(("dbteam", "dbprov"), ((await fixture.AuditAsync("db-model")).Profile, (await fixture.AuditAsync("db-model")).Provider));

        // A file provider's name cannot be taken; a provider a profile uses cannot be deleted.
        var clash = await admin.PostAsync("/api/llm/providers", """{"name": "retry", "kind": "openai"}""");
        Assert.True(clash.Status == HttpStatusCode.Conflict && clash.Text.Contains("configuration file", StringComparison.Ordinal), clash.ToString());
        var inUse = await admin.DeleteAsync("/api/llm/providers/dbprov");
        Assert.True(inUse.Status == HttpStatusCode.Conflict && inUse.Text.Contains("dbprov", StringComparison.Ordinal), inUse.ToString());
        var wrongKind = await admin.PutAsync("/api/llm/providers/dbprov", """{"kind": "anthropic"}""");
        Assert.True(wrongKind.Status == HttpStatusCode.Conflict, wrongKind.ToString());

        // Deleted together, the profile stops serving at once.
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/api/profiles/dbteam")).Status);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/api/llm/providers/dbprov")).Status);
        var gone = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct));
        Assert.Equal(404, gone.Status);
    }

    [Fact]
    public async Task Bad_resilience_settings_through_the_admin_API_are_refused_at_their_json_path()
    {
        using var admin = new AdminClient(fixture.Gateway.Server.AdminUrl, AdminClient.RootKey);

        var reply = await admin.PostAsync("/api/llm/providers", """{"name": "bad", "kind": "openai", "retries": 11, "circuitBreaker": {"failureRatio": 0}}""");

        Assert.Equal(HttpStatusCode.UnprocessableEntity, reply.Status);
        Assert.Contains(reply.Errors, e => e.Path == "$.retries");
        Assert.Contains(reply.Errors, e => e.Path == "$.circuitBreaker.failureRatio" && e.Message.Contains("above 0", StringComparison.Ordinal));
    }
}
