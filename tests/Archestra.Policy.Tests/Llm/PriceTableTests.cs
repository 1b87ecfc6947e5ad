using Archestra.Policy.Llm;

namespace Archestra.Policy.Tests.Llm;

public class PriceTableTests
{
    public static TheoryData<string, string?> Lookups =>
        new()
        {
            { "gpt-4o", "gpt-4o" },
            { "gpt-4o-2024-08-06", "gpt-4o" },
            { "gpt-4o-mini", "gpt-4o-mini" },
            { "gpt-4o-mini-2024-07-18", "gpt-4o-mini" },
            { "gpt-5-2025-08-07", "gpt-5" },
            { "claude-sonnet-4-5-20250929", "claude-sonnet-4-5" },
            { "claude-haiku-4-5-20251001", "claude-haiku-4-5" },
            { "claude-sonnet-4-20250514", "claude-sonnet-4-0" },
            { "claude-opus-4-1-20250805", "claude-opus-4-1" },
            { "claude-3-5-haiku-latest", "claude-3-5-haiku" },
            { "claude-3-5-haiku-20241022", "claude-3-5-haiku" },
            { "gpt-4o-mini-realtime", null },
            { "gpt-4", null },
            { "GPT-4O", null },
            { "o3", null },
            { "-2024-08-06", null },
            { "gpt-4o-2024-8-06", null },
            { "", null },
        };

    [Theory]
    [MemberData(nameof(Lookups))]
    public void Models_are_found_by_id_alias_or_dated_snapshot_and_never_by_prefix(string model, string? priced) =>
        Assert.Equal(priced, DefaultPrices.Table.Find(model)?.Model);

    public static TheoryData<string, Usage, decimal> Costs =>
        new()
        {
            // OpenAI chat: prompt 1,000,000 of which 400,000 cached; completion 200,000 of which 150,000 reasoning.
            // gpt-4o: 600k × 2.50 + 400k × 1.25 + 200k × 10 (reasoning already inside completion) = 1.5 + 0.5 + 2 = 4.00
            { "gpt-4o", Usage.FromOpenAi(1_000_000, 200_000, 400_000, 150_000), 4.00m },
            // gpt-5-nano: 1,234 uncached × 0.05 + 0 cached + 56 × 0.40 = 0.0000617 + 0.0000224
            { "gpt-5-nano-2025-08-07", Usage.FromOpenAi(1_234, 56), 0.0000841m },
            // Anthropic: input 1,000 (excludes cache) + 20,000 read × 0.30 + 3,000 written × 3.75 + 500 out × 15
            { "claude-sonnet-4-5-20250929", Usage.FromAnthropic(1_000, 500, 20_000, 3_000), 0.003m + 0.006m + 0.01125m + 0.0075m },
            { "claude-opus-4-6", Usage.FromAnthropic(0, 0), 0m },
            { "claude-3-5-haiku", Usage.FromAnthropic(1_000_000, 1_000_000, 1_000_000, 1_000_000), 0.80m + 4m + 0.08m + 1m },
        };

    [Theory]
    [MemberData(nameof(Costs))]
    public void Cost_is_exact_per_provider_usage_semantics(string model, Usage usage, decimal expected) =>
        Assert.Equal(expected, DefaultPrices.Table.Cost(model, usage));

    [Fact]
    public void An_unknown_model_has_no_cost_rather_than_zero() => Assert.Null(DefaultPrices.Table.Cost("my-own-model", Usage.FromOpenAi(100, 100)));

    [Fact]
    public void A_model_without_a_cache_rate_bills_cached_and_written_tokens_as_input()
    {
        var table = PriceTable.Create([new ModelPrice("local", 1m, 2m)]);
        Assert.Equal((100m + 200m + 300m) / 1_000_000m + 2 * 400m / 1_000_000m, table.Cost("local", new Usage(100, 400, 200, 300)));
    }

    [Fact]
    public void OpenAi_prompt_tokens_include_cached_tokens()
    {
        var usage = Usage.FromOpenAi(promptTokens: 1000, completionTokens: 300, cachedTokens: 800, reasoningTokens: 200);
        Assert.Equal(new Usage(InputTokens: 200, OutputTokens: 300, CachedInputTokens: 800, CacheCreationTokens: 0, ReasoningTokens: 200), usage);
        Assert.Equal(1000, usage.TotalInputTokens);
        Assert.Equal(1300, usage.TotalTokens);
    }

    [Fact]
    public void Anthropic_input_tokens_exclude_cache_reads_and_writes()
    {
        var usage = Usage.FromAnthropic(inputTokens: 10, outputTokens: 5, cacheReadInputTokens: 100, cacheCreationInputTokens: 1000);
        Assert.Equal(1110, usage.TotalInputTokens);
        Assert.Equal(1115, usage.TotalTokens);
    }

    [Fact]
    public void Malformed_openai_usage_is_clamped_not_negative() =>
        Assert.Equal(new Usage(0, 5, 10, 0, 5), Usage.FromOpenAi(10, 5, cachedTokens: 50, reasoningTokens: 9));

    [Fact]
    public void Aliases_and_duplicates_are_validated()
    {
        Assert.Throws<ArgumentException>(() => PriceTable.Create([new ModelPrice("a", 1, 1), new ModelPrice("a", 2, 2)]));
        Assert.Throws<ArgumentException>(() => PriceTable.Create([new ModelPrice("a", 1, 1)], [new("b", "missing")]));
        Assert.Throws<ArgumentException>(() => PriceTable.Create([new ModelPrice("a", -1, 1)]));
        Assert.Equal("a", PriceTable.Create([new ModelPrice("a", 1, 1)], [new("b", "a")]).Find("b-2025-01-01")?.Model);
    }

    [Fact]
    public void Every_seeded_price_is_reachable_and_sane()
    {
        foreach (var price in DefaultPrices.Prices)
        {
            Assert.Same(price, DefaultPrices.Table.Find(price.Model));
            // Embedding models bill input only: their output rate is 0.
            Assert.True(
                price.OutputPerMillion >= price.InputPerMillion
                    || (price.Model.StartsWith("text-embedding-", StringComparison.Ordinal) && price.OutputPerMillion == 0)
            );
            Assert.True(price.CachedInputPerMillion is null || price.CachedInputPerMillion < price.InputPerMillion);
        }
    }
}
