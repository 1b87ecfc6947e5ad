namespace Archestra.Policy.Llm;

/// <summary>
/// USD per million tokens for one model. A missing <see cref="CachedInputPerMillion"/> or
/// <see cref="CacheWritePerMillion"/> means the model has no separate rate for that bucket, so those tokens are billed
/// at <see cref="InputPerMillion"/> (a model without a cache discount charges cached tokens as normal input).
/// </summary>
public sealed record ModelPrice(
    string Model,
    decimal InputPerMillion,
    decimal OutputPerMillion,
    decimal? CachedInputPerMillion = null,
    decimal? CacheWritePerMillion = null
)
{
    private const decimal Million = 1_000_000m;

    /// <summary>The exact USD cost of <paramref name="usage"/> at these rates (decimal, no rounding).</summary>
    public decimal Cost(in Usage usage) =>
        (
            usage.InputTokens * InputPerMillion
            + usage.CachedInputTokens * (CachedInputPerMillion ?? InputPerMillion)
            + usage.CacheCreationTokens * (CacheWritePerMillion ?? InputPerMillion)
            + usage.OutputTokens * OutputPerMillion
        ) / Million;
}
