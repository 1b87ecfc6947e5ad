using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Embeddings;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>
/// <c>POST /v1/openai/{profile}/embeddings</c> through the .NET <c>OpenAI</c> SDK's <see cref="EmbeddingClient"/> and the npm
/// <c>openai</c> SDK (tests/node/llm/openai.mjs) against the fake's embeddings endpoint: the body and answer pass through,
/// the virtual key is swapped for the provider's, and <c>usage.prompt_tokens</c> reaches the audit row, the price table,
/// the budgets and the metrics. Seeded prices: text-embedding-3-small $0.02, -large $0.13 per million input tokens.
/// </summary>
public sealed class EmbeddingsTests(LlmProxyFixture fixture) : IClassFixture<LlmProxyFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private EmbeddingClient Client(string model, string profile = "team", string key = LlmProxyFixture.VirtualKey) =>
        new(model, new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = fixture.OpenAiBase(profile), RetryPolicy = new ClientRetryPolicy(0) });

    private FakeProvider.Received Sent(string model) =>
        fixture.Fake.Requests.Last(r => r.Path == "/v1/embeddings" && r.Body.Contains(model, StringComparison.Ordinal));

    private Task<JsonElement> NodeAsync(string scenario, string model, string key = LlmProxyFixture.VirtualKey) =>
        NodeSdkTests.RunAsync("openai.mjs", scenario, fixture.OpenAiBase().ToString(), key, model);

    private async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(string body, string profile = "team")
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, fixture.OpenAiBase(profile) + "/embeddings")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", LlmProxyFixture.VirtualKey);
        using var response = await http.SendAsync(request, Ct);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        return (response.StatusCode, json.RootElement.Clone());
    }

    [Fact]
    public async Task The_dotnet_sdk_gets_the_vectors_it_decodes_from_base64_and_the_exact_cost_is_recorded()
    {
        var result = (await Client("text-embedding-3-small").GenerateEmbeddingsAsync(["the first text", "the second"], cancellationToken: Ct)).Value;

        Assert.Equal(2, result.Count);
        Assert.Equal(FakeProvider.Vector(0), result[0].ToFloats().ToArray());
        Assert.Equal(FakeProvider.Vector(1), result[1].ToFloats().ToArray());
        Assert.Equal((5, 5), (result.Usage.InputTokenCount, result.Usage.TotalTokenCount));

        // The body went as the SDK wrote it (base64 asked for), with the provider's key instead of the virtual key.
        var sent = Sent("text-embedding-3-small");
        Assert.Equal($"Bearer {LlmProxyFixture.OpenAiProviderKey}", sent.Authorization);
        using (var json = JsonDocument.Parse(sent.Body))
        {
            Assert.Equal("base64", json.RootElement.GetProperty("encoding_format").GetString());
            Assert.Equal("""["the first text","the second"]""", json.RootElement.GetProperty("input").GetRawText());
        }

        var row = Assert.Single(await fixture.AuditAsync("text-embedding-3-small"));
        Assert.Equal(("team", "openai", "ok", "text-embedding-3-small"), (row.Profile, row.Provider, row.Status, row.UsedModel));
        Assert.Equal((5, 0, 0, 0), (row.InputTokens, row.OutputTokens, row.CachedInputTokens, row.ReasoningTokens));
        Assert.Equal(5 * 0.02m / 1_000_000m, row.Cost);
        Assert.Null(row.TimeToFirstTokenMicroseconds);
    }

    [Fact]
    public async Task The_npm_sdk_decodes_its_default_base64_and_gets_floats_when_it_asks_for_them()
    {
        var decoded = await NodeAsync("embeddings", "text-embedding-3-large");
        Assert.Equal(
            [FakeProvider.Vector(0), FakeProvider.Vector(1)],
            decoded.GetProperty("vectors").EnumerateArray().Select(v => v.EnumerateArray().Select(f => f.GetSingle()).ToArray()).ToArray()
        );
        Assert.Equal("[0,1]", decoded.GetProperty("indexes").GetRawText());
        Assert.Equal(5, decoded.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Contains("\"encoding_format\":\"base64\"", Sent("text-embedding-3-large").Body, StringComparison.Ordinal);

        var floats = await NodeAsync("embeddings-float", "text-embedding-ada-002");
        Assert.Equal("[[-0.5,-0.25,0]]", floats.GetProperty("vectors").GetRawText());
        Assert.Equal(4, floats.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        var large = Assert.Single(await fixture.AuditAsync("text-embedding-3-large"));
        Assert.Equal((5, 5 * 0.13m / 1_000_000m), (large.InputTokens, large.Cost));
        var ada = Assert.Single(await fixture.AuditAsync("text-embedding-ada-002"));
        Assert.Equal((4, 4 * 0.10m / 1_000_000m), (ada.InputTokens, ada.Cost));
    }

    [Fact]
    public async Task A_wrong_virtual_key_and_an_upstream_429_raise_the_npm_sdks_own_errors()
    {
        var unauthorized = await NodeAsync("embeddings-error", "text-embedding-wrongkey", key: "vk-wrong");
        Assert.Equal(
            ("AuthenticationError", 401, "invalid_api_key"),
            (unauthorized.GetProperty("error").GetString(), unauthorized.GetProperty("status").GetInt32(), unauthorized.GetProperty("code").GetString())
        );
        Assert.DoesNotContain(fixture.Fake.Requests, r => r.Body.Contains("text-embedding-wrongkey", StringComparison.Ordinal));

        fixture.Fake.ModelStatus["text-embedding-limited"] = 429;
        var limited = await NodeAsync("embeddings-error", "text-embedding-limited");
        Assert.Equal(
            ("RateLimitError", 429, "7"),
            (limited.GetProperty("error").GetString(), limited.GetProperty("status").GetInt32(), limited.GetProperty("retryAfter").GetString())
        );
        var row = Assert.Single(await fixture.AuditAsync("text-embedding-limited"));
        Assert.Equal("429", row.Status);
        Assert.Contains("Rate limit reached", row.Error, StringComparison.Ordinal);
        Assert.Null(row.Cost);
    }

    [Fact]
    public async Task A_provider_prefix_picks_an_openai_kind_provider_and_is_refused_for_another_kind()
    {
        var (status, body) = await PostAsync("""{"model":"openai/text-embedding-3-small","input":"routed here"}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("text-embedding-3-small", body.GetProperty("model").GetString());
        Assert.Contains(fixture.Fake.Requests, r => r.Path == "/v1/embeddings" && r.Body == """{"model":"text-embedding-3-small","input":"routed here"}""");
        var routed = Assert.Single(await fixture.AuditAsync("openai/text-embedding-3-small"));
        Assert.Equal(("openai", "text-embedding-3-small", 2), (routed.Provider, routed.UsedModel, routed.InputTokens));

        (status, body) = await PostAsync("""{"model":"anthropic/claude-embed","input":"no"}""");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = body.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Contains(
            "model 'anthropic/claude-embed' names the provider 'anthropic' (kind anthropic)",
            error.GetProperty("message").GetString(),
            StringComparison.Ordinal
        );
        Assert.DoesNotContain(fixture.Fake.Requests, r => r.Body.Contains("claude-embed", StringComparison.Ordinal));

        // A model id with a slash of its own (a vLLM or OpenRouter id) goes to the profile's OpenAI provider unchanged.
        (status, _) = await PostAsync("""{"model":"BAAI/bge-m3","input":"kept"}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains(fixture.Fake.Requests, r => r.Path == "/v1/embeddings" && r.Body.Contains("\"BAAI/bge-m3\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Embedding_tokens_count_toward_a_token_budget_and_the_metrics()
    {
        using (var admin = fixture.Admin())
        {
            var created = await admin.PostAsync("/api/llm/limits", """{"profile": "embeddings", "kind": "tokens", "period": "day", "value": 4}""");
            Assert.Equal(HttpStatusCode.Created, created.Status);
        }

        // 5 tokens: under the limit when it starts, over it when it ends; the next request is refused before the provider.
        await Client("text-embedding-budget-first", "embeddings").GenerateEmbeddingsAsync(["one two three", "four five"], cancellationToken: Ct);
        var refused = await Assert.ThrowsAsync<ClientResultException>(() =>
            Client("text-embedding-budget-second", "embeddings").GenerateEmbeddingAsync("hi", cancellationToken: Ct)
        );
        Assert.Equal(429, refused.Status);
        Assert.Contains("profile embeddings has used 5 of its 4 tokens per day", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Fake.Requests, r => r.Body.Contains("text-embedding-budget-second", StringComparison.Ordinal));
        Assert.Equal("budget_exceeded", Assert.Single(await fixture.AuditAsync("text-embedding-budget-second")).Status);

        using var http = new HttpClient();
        var text = await http.GetStringAsync(new Uri(fixture.Gateway.Server.MetricsUrl, "/metrics"), Ct);
        const string Labels = "profile=\"embeddings\",provider=\"openai\",model=\"text-embedding-budget-first\"";
        Assert.Contains($"llm_requests_total{{{Labels},status=\"ok\"}} 1\n", text, StringComparison.Ordinal);
        Assert.Contains($"llm_tokens_total{{{Labels},type=\"input\"}} 5\n", text, StringComparison.Ordinal);
    }
}
