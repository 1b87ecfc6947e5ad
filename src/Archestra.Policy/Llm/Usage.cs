namespace Archestra.Policy.Llm;

/// <summary>
/// Token counts of one LLM interaction, normalised so that every input token sits in exactly one billing bucket:
/// <see cref="InputTokens"/> (uncached, input price), <see cref="CachedInputTokens"/> (cache reads),
/// <see cref="CacheCreationTokens"/> (Anthropic cache writes). <see cref="ReasoningTokens"/> is a part of
/// <see cref="OutputTokens"/>, never added to it: both providers bill reasoning/thinking as output tokens.
/// Build it with <see cref="FromOpenAi"/> or <see cref="FromAnthropic"/>, which know how each provider reports usage.
/// </summary>
public readonly record struct Usage(long InputTokens, long OutputTokens, long CachedInputTokens = 0, long CacheCreationTokens = 0, long ReasoningTokens = 0)
{
    /// <summary>Every input token the model read: uncached + cache reads + cache writes.</summary>
    public long TotalInputTokens => InputTokens + CachedInputTokens + CacheCreationTokens;

    /// <summary>What token budgets count: all input plus all output (reasoning is already inside output).</summary>
    public long TotalTokens => TotalInputTokens + OutputTokens;

    /// <summary>
    /// OpenAI Chat Completions (<c>prompt_tokens</c>, <c>completion_tokens</c>,
    /// <c>prompt_tokens_details.cached_tokens</c>, <c>completion_tokens_details.reasoning_tokens</c>) and the
    /// Responses API (<c>input_tokens</c>, <c>output_tokens</c>, <c>input_tokens_details.cached_tokens</c>,
    /// <c>output_tokens_details.reasoning_tokens</c>) report the same way: the prompt count INCLUDES the cached
    /// tokens and the completion count INCLUDES the reasoning tokens. So the uncached input is prompt − cached.
    /// </summary>
    public static Usage FromOpenAi(long promptTokens, long completionTokens, long cachedTokens = 0, long reasoningTokens = 0)
    {
        var cached = Math.Clamp(cachedTokens, 0, Math.Max(promptTokens, 0));
        return new Usage(
            InputTokens: Math.Max(promptTokens, 0) - cached,
            OutputTokens: Math.Max(completionTokens, 0),
            CachedInputTokens: cached,
            CacheCreationTokens: 0,
            ReasoningTokens: Math.Clamp(reasoningTokens, 0, Math.Max(completionTokens, 0))
        );
    }

    /// <summary>
    /// Anthropic Messages (<c>usage.input_tokens</c>, <c>output_tokens</c>, <c>cache_read_input_tokens</c>,
    /// <c>cache_creation_input_tokens</c>): <c>input_tokens</c> EXCLUDES cache reads and cache writes (the three add
    /// up to the whole prompt), and <c>output_tokens</c> includes extended-thinking tokens, which Anthropic does not
    /// report separately (so <see cref="ReasoningTokens"/> stays 0).
    /// </summary>
    public static Usage FromAnthropic(long inputTokens, long outputTokens, long cacheReadInputTokens = 0, long cacheCreationInputTokens = 0) =>
        new(
            InputTokens: Math.Max(inputTokens, 0),
            OutputTokens: Math.Max(outputTokens, 0),
            CachedInputTokens: Math.Max(cacheReadInputTokens, 0),
            CacheCreationTokens: Math.Max(cacheCreationInputTokens, 0),
            ReasoningTokens: 0
        );
}
