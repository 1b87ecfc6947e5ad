namespace Archestra.Policy.Llm;

/// <summary>
/// A cheap token count for when the provider's exact count is not known yet (before forwarding a request).
/// Both providers document roughly 4 characters of English text per token (OpenAI's tokenizer guide: "one token
/// generally corresponds to ~4 characters of text for common English text"; Anthropic gives a similar ratio). Code,
/// JSON and non-Latin scripts run denser, so treat this as an estimate for rule thresholds, never for billing.
/// </summary>
public static class TokenEstimate
{
    public const int CharsPerToken = 4;

    /// <summary>⌈chars / 4⌉; 0 for 0 (or a negative count).</summary>
    public static long FromChars(long chars) => chars <= 0 ? 0 : (chars - 1) / CharsPerToken + 1;

    /// <inheritdoc cref="FromChars(long)"/>
    public static int FromChars(int chars) => chars <= 0 ? 0 : (chars - 1) / CharsPerToken + 1;
}
