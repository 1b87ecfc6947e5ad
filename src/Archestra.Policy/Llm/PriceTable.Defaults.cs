namespace Archestra.Policy.Llm;

public static class DefaultPrices
{
    // Seeded public list prices, USD per million tokens, standard (non-batch, non-priority) tier.
    // Checked 2026-11-21 through the stored copies of the pages named on each line. Only models whose three
    // (OpenAI) or four (Anthropic) rates could be confirmed are listed; a model left out has no price (null cost),
    // never a guessed one. Left out for lack of a confirmable rate: o3 and o4-mini (sources disagree on the cached
    // rate), gpt-4.1-mini and gpt-4.1-nano (cached rate not confirmed).
    //
    // OpenAI-compatible services (Groq, Mistral, DeepSeek, OpenRouter, Together, Cerebras; README "Provider presets")
    // are not seeded: their per-model price lists change too often for a seeded row to stay right.
    //
    // Anthropic: "5m cache writes" is the write rate used (the default 5-minute TTL); 1-hour writes cost more and
    // are not modelled. Sonnet 4 / 4.5 long-context (> 200K input) surcharges are not modelled either.

    /// <summary>The seeded prices (see the source comment on each entry).</summary>
    public static IReadOnlyList<ModelPrice> Prices { get; } =
    [
        // OpenAI
        // developers.openai.com/api/docs/models/gpt-5-mini (model page, "Text tokens"): $0.25 / $0.025 cached / $2.00.
        new("gpt-5-mini", 0.25m, 2.00m, CachedInputPerMillion: 0.025m),
        // developers.openai.com/api/docs/models/gpt-5-nano.md ("Text tokens"): $0.05 / $0.005 cached / $0.40.
        new("gpt-5-nano", 0.05m, 0.40m, CachedInputPerMillion: 0.005m),
        // developers.openai.com/api/docs/models/gpt-5-codex (its "Quick comparison" lists GPT-5 at $1.25 input, and
        // GPT-5-Codex, priced as GPT-5, at $1.25 / $0.125 cached / $10.00); output $10.00 also per deploybase.ai
        // "OpenAI pricing" (March 2026) and the github/docs Copilot price table's GPT-5 family 10x cache ratio.
        new("gpt-5", 1.25m, 10.00m, CachedInputPerMillion: 0.125m),
        // github/docs data/tables/copilot/models-and-pricing.yml (earlier revision: GPT-4.1 $2.00 / $0.50 / $8.00);
        // the same three rates on helicone.ai/model/gpt-4.1 and vercel.com/ai-gateway/models/gpt-4.1.
        new("gpt-4.1", 2.00m, 8.00m, CachedInputPerMillion: 0.50m),
        // Official page not in the stored copies; $2.50 / $1.25 cached / $10.00 agrees across the CommitBrief wiki
        // ("Rates from openai.com/api/pricing"), chatgptpricing-akr.pages.dev (source developers.openai.com/api/docs/pricing)
        // and docs.rs openai-models (from openai.com/api/pricing).
        new("gpt-4o", 2.50m, 10.00m, CachedInputPerMillion: 1.25m),
        // Same three sources as gpt-4o: $0.15 / $0.075 cached / $0.60.
        new("gpt-4o-mini", 0.15m, 0.60m, CachedInputPerMillion: 0.075m),
        // Embeddings (input only; /v1/openai/{profile}/embeddings): $0.02, $0.13 and $0.10 per 1M tokens, standard tier,
        // checked 2026-12-06 through the stored copies of openrouter.ai/openai/text-embedding-3-small ("OpenAI: $0.02/M"),
        // zilliz.com/ai-models/text-embedding-3-small (all three) and burncloud.com's copy of OpenAI's model page (3-large).
        new("text-embedding-3-small", 0.02m, 0m),
        new("text-embedding-3-large", 0.13m, 0m),
        new("text-embedding-ada-002", 0.10m, 0m),
        // Anthropic: platform.claude.com/docs/zh-CN/about-claude/pricing, "Model pricing" table
        // (base input / 5m cache writes / cache hits / output), Opus 4.5+ rows also on .../docs/en/about-claude/pricing.
        new("claude-opus-4-6", 5m, 25m, CachedInputPerMillion: 0.50m, CacheWritePerMillion: 6.25m),
        new("claude-opus-4-5", 5m, 25m, CachedInputPerMillion: 0.50m, CacheWritePerMillion: 6.25m),
        new("claude-opus-4-1", 15m, 75m, CachedInputPerMillion: 1.50m, CacheWritePerMillion: 18.75m),
        new("claude-opus-4-0", 15m, 75m, CachedInputPerMillion: 1.50m, CacheWritePerMillion: 18.75m),
        new("claude-sonnet-4-6", 3m, 15m, CachedInputPerMillion: 0.30m, CacheWritePerMillion: 3.75m),
        new("claude-sonnet-4-5", 3m, 15m, CachedInputPerMillion: 0.30m, CacheWritePerMillion: 3.75m),
        new("claude-sonnet-4-0", 3m, 15m, CachedInputPerMillion: 0.30m, CacheWritePerMillion: 3.75m),
        new("claude-haiku-4-5", 1m, 5m, CachedInputPerMillion: 0.10m, CacheWritePerMillion: 1.25m),
        new("claude-3-5-haiku", 0.80m, 4m, CachedInputPerMillion: 0.08m, CacheWritePerMillion: 1m),
        // Gemini: ai.google.dev/gemini-api/docs/pricing, Standard tier, text input, prompts up to 200K tokens (the
        // long-context rates of 2.5 Pro are not modelled); output includes thinking tokens. Re-checked 2026-12-06: the page
        // itself is not in the stored copies; all nine rates agree between BerriAI/litellm model_prices_and_context_window.json
        // (gemini/gemini-2.5-pro, -flash, -flash-lite: input, output and cache_read_input_token_cost, sourced from Google's
        // pages) and the discuss.ai.google.dev threads quoting the page (2.5 Pro context caching $0.125 for prompts up to
        // 200K); deploybase.ai "Gemini API Pricing" gives the same input/output and "90%" off for cached input. Caching
        // storage per hour is not modelled. Older copies show 2.5 Pro cache reads at $0.31 and Flash at $0.075 (the rates
        // before Google's implicit-caching discount): superseded.
        new("gemini-2.5-pro", 1.25m, 10.00m, CachedInputPerMillion: 0.125m),
        new("gemini-2.5-flash", 0.30m, 2.50m, CachedInputPerMillion: 0.03m),
        new("gemini-2.5-flash-lite", 0.10m, 0.40m, CachedInputPerMillion: 0.01m),
    ];

    /// <summary>
    /// Ids that name a priced model without following the snapshot rule: Anthropic's dated ids of the 4.0 models
    /// (<c>claude-sonnet-4-20250514</c> strips to <c>claude-sonnet-4</c>) and the <c>-latest</c> aliases.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Aliases { get; } =
    [new("claude-opus-4", "claude-opus-4-0"), new("claude-sonnet-4", "claude-sonnet-4-0"), new("claude-3-5-haiku-latest", "claude-3-5-haiku")];

    /// <summary>A price table of <see cref="Prices"/> and <see cref="Aliases"/>.</summary>
    public static PriceTable Table { get; } = PriceTable.Create(Prices, Aliases);
}
