namespace Archestra.Gateway.Llm;

/// <summary>
/// Token counts as the provider reported them, last value wins per field: Anthropic's <c>message_delta</c>
/// usage is cumulative, so a later event replaces what <c>message_start</c> said.
/// </summary>
internal struct LlmUsage
{
    /// <summary>OpenAI <c>prompt_tokens</c> / Responses and Anthropic <c>input_tokens</c>.</summary>
    public long Input;

    public long Output;

    /// <summary>OpenAI <c>*_tokens_details.cached_tokens</c> (already part of <see cref="Input"/>).</summary>
    public long CachedDetail;

    /// <summary>Anthropic <c>cache_read_input_tokens</c> (not part of its <c>input_tokens</c>).</summary>
    public long CacheRead;

    /// <summary>Anthropic <c>cache_creation_input_tokens</c> (not part of its <c>input_tokens</c>).</summary>
    public long CacheCreation;

    public long Reasoning;

    /// <summary>Gemini <c>thoughtsTokenCount</c>: billed as output, but not part of its <c>candidatesTokenCount</c>.</summary>
    public long Thoughts;

    public bool Seen;

    /// <summary>
    /// Every input token, cached or not, with the OpenAI meaning: Anthropic reports cache reads and cache writes
    /// beside <c>input_tokens</c>, so they are added here and the record's sum means the same for both providers.
    /// </summary>
    public readonly long TotalInput => Input + CacheRead + CacheCreation;

    /// <summary>Every output token with the OpenAI meaning (reasoning included): Gemini's thoughts are added here.</summary>
    public readonly long AllOutput => Output + Thoughts;

    /// <summary>The reasoning tokens among <see cref="AllOutput"/>.</summary>
    public readonly long AllReasoning => Reasoning + Thoughts;

    /// <summary>Input tokens served from the provider's prompt cache.</summary>
    public readonly long Cached => CachedDetail + CacheRead;
}
