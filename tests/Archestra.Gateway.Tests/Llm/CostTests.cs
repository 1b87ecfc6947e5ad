using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using Anthropic;
using Anthropic.Models.Messages;
using OpenAI;
using OpenAI.Chat;

namespace Archestra.Gateway.Tests.Llm;

/// <summary>Every interaction records its exact cost from the price table; an unknown model records none and is counted.</summary>
public sealed class CostTests(LlmProxyFixture fixture) : IClassFixture<LlmProxyFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private ChatClient Chat(string model) =>
        new(
            model,
            new ApiKeyCredential(LlmProxyFixture.VirtualKey),
            new OpenAIClientOptions { Endpoint = fixture.OpenAiBase(), RetryPolicy = new ClientRetryPolicy(0) }
        );

    private AnthropicClient Anthropic() =>
        new()
        {
            ApiKey = LlmProxyFixture.VirtualKey,
            BaseUrl = fixture.AnthropicBase().ToString(),
            MaxRetries = 0,
        };

    private async Task<string> MetricsAsync()
    {
        using var http = new HttpClient();
        return await http.GetStringAsync(new Uri(fixture.Gateway.Server.MetricsUrl, "/metrics"), Ct);
    }

    [Fact]
    public async Task An_openai_call_records_its_exact_cost_with_cached_tokens_at_the_cached_rate()
    {
        await Chat("gpt-4o").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct);

        // The answer names gpt-4o-2024-08-06 (priced as gpt-4o: $2.50 in, $1.25 cached, $10.00 out per million);
        // usage: 12 prompt tokens of which 4 cached, 5 completion tokens.
        var row = Assert.Single(await fixture.AuditAsync("gpt-4o"));
        Assert.Equal(((12 - 4) * 2.50m + 4 * 1.25m + 5 * 10.00m) / 1_000_000m, row.Cost);
        Assert.Equal(0.000075m, row.Cost);
        Assert.Contains("llm_cost_usd_total{profile=\"team\",provider=\"openai\",model=\"gpt-4o\"} 7.5E-05\n", await MetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_anthropic_call_records_its_exact_cost_with_cache_reads_and_writes_at_their_rates()
    {
        await Anthropic()
            .Messages.Create(
                new MessageCreateParams
                {
                    Model = "claude-cost",
                    MaxTokens = 100,
                    Messages = [new UserMessageParam("hi")],
                },
                Ct
            );

        // The answer names claude-sonnet-4-5-20250929 ($3 in, $0.30 cache reads, $3.75 cache writes, $15 out);
        // usage: 20 input, 7 cache reads, 3 cache writes, 9 output.
        var row = Assert.Single(await fixture.AuditAsync("claude-cost"));
        Assert.Equal((20 * 3m + 7 * 0.30m + 3 * 3.75m + 9 * 15m) / 1_000_000m, row.Cost);
        Assert.Equal(0.00020835m, row.Cost);
    }

    [Fact]
    public async Task A_streamed_call_records_the_same_cost_as_a_plain_one()
    {
        await foreach (var _ in Chat("gpt-4o-mini").CompleteChatStreamingAsync([new UserChatMessage("hi")], cancellationToken: Ct)) { }

        // gpt-4o-mini: $0.15 in, $0.075 cached, $0.60 out.
        var row = Assert.Single(await fixture.AuditAsync("gpt-4o-mini"));
        Assert.Equal((8 * 0.15m + 4 * 0.075m + 5 * 0.60m) / 1_000_000m, row.Cost);
    }

    [Fact]
    public async Task An_unknown_model_records_no_cost_and_counts_as_unpriced()
    {
        await Chat("gpt-unpriced").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct);

        var row = Assert.Single(await fixture.AuditAsync("gpt-unpriced"));
        Assert.Null(row.Cost);
        Assert.Equal(12, row.InputTokens);
        var metrics = await MetricsAsync();
        Assert.Contains("llm_unpriced_requests_total{profile=\"team\",provider=\"openai\",model=\"gpt-unpriced\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("llm_cost_usd_total{profile=\"team\",provider=\"openai\",model=\"gpt-unpriced\"}", metrics, StringComparison.Ordinal);

        using var admin = fixture.Admin();
        var listed = await admin.GetAsync("/api/audit/llm-interactions?model=gpt-unpriced");
        Assert.Equal(System.Text.Json.JsonValueKind.Null, listed.Items.Single().GetProperty("cost").ValueKind);
    }

    [Fact]
    public async Task A_price_set_through_the_admin_api_applies_to_the_next_call()
    {
        using var admin = fixture.Admin();
        var created = await admin.PostAsync(
            "/api/llm/prices",
            """{"model": "gpt-dbpriced", "inputPerMillion": 1, "outputPerMillion": 2, "cachedInputPerMillion": 0.5}"""
        );
        Assert.Equal(HttpStatusCode.Created, created.Status);

        await Chat("gpt-dbpriced").CompleteChatAsync([new UserChatMessage("hi")], cancellationToken: Ct);

        var row = Assert.Single(await fixture.AuditAsync("gpt-dbpriced"));
        Assert.Equal((8 * 1m + 4 * 0.5m + 5 * 2m) / 1_000_000m, row.Cost);
    }
}
