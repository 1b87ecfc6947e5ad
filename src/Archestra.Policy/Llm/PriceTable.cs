using System.Collections.Frozen;

namespace Archestra.Policy.Llm;

/// <summary>
/// Immutable model → price table, built once per configuration snapshot.
/// <para>Lookup rule (<see cref="Find"/>), first hit wins:</para>
/// <list type="number">
/// <item>the exact model id (ordinal, case-sensitive, as the provider spells it);</item>
/// <item>a configured alias (alias id → priced model id), e.g. <c>claude-3-5-haiku-latest → claude-3-5-haiku</c>;</item>
/// <item>a dated snapshot: a trailing <c>-YYYY-MM-DD</c> (OpenAI, <c>gpt-4o-2024-08-06 → gpt-4o</c>) or <c>-YYYYMMDD</c>
/// (Anthropic, <c>claude-sonnet-4-5-20250929 → claude-sonnet-4-5</c>) is removed and steps 1–2 are tried again.</item>
/// </list>
/// There is deliberately no longest-prefix matching: <c>gpt-4o-mini</c> must never be priced as <c>gpt-4o</c>.
/// A model that none of these finds has no price: <see cref="Cost"/> returns null rather than a wrong zero.
/// </summary>
public sealed class PriceTable
{
    private readonly FrozenDictionary<string, ModelPrice> _prices;
    private readonly FrozenDictionary<string, ModelPrice>.AlternateLookup<ReadOnlySpan<char>> _priceLookup;
    private readonly FrozenDictionary<string, ModelPrice>.AlternateLookup<ReadOnlySpan<char>> _aliasLookup;

    private PriceTable(FrozenDictionary<string, ModelPrice> prices, FrozenDictionary<string, ModelPrice> aliases)
    {
        _prices = prices;
        _priceLookup = prices.GetAlternateLookup<ReadOnlySpan<char>>();
        _aliasLookup = aliases.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public static PriceTable Empty { get; } = Create([]);

    /// <summary>The prices in this table, by model id.</summary>
    public IReadOnlyDictionary<string, ModelPrice> Prices => _prices;

    /// <param name="prices">One price per model id; a duplicate id or a negative rate is a configuration bug.</param>
    /// <param name="aliases">Alias id → model id of an entry in <paramref name="prices"/>.</param>
    public static PriceTable Create(IEnumerable<ModelPrice> prices, IEnumerable<KeyValuePair<string, string>>? aliases = null)
    {
        ArgumentNullException.ThrowIfNull(prices);
        var byModel = new Dictionary<string, ModelPrice>(StringComparer.Ordinal);
        foreach (var price in prices)
        {
            if (string.IsNullOrEmpty(price.Model))
            {
                throw new ArgumentException("a price needs a model id", nameof(prices));
            }

            if (price.InputPerMillion < 0 || price.OutputPerMillion < 0 || price.CachedInputPerMillion < 0 || price.CacheWritePerMillion < 0)
            {
                throw new ArgumentException($"price of '{price.Model}' has a negative rate", nameof(prices));
            }

            if (!byModel.TryAdd(price.Model, price))
            {
                throw new ArgumentException($"model '{price.Model}' is priced twice", nameof(prices));
            }
        }

        var byAlias = new Dictionary<string, ModelPrice>(StringComparer.Ordinal);
        foreach (var (alias, model) in aliases ?? [])
        {
            if (!byModel.TryGetValue(model, out var target))
            {
                throw new ArgumentException($"alias '{alias}' names '{model}', which has no price", nameof(aliases));
            }

            if (byModel.ContainsKey(alias) || !byAlias.TryAdd(alias, target))
            {
                throw new ArgumentException($"alias '{alias}' is already a model id or another alias", nameof(aliases));
            }
        }

        return new PriceTable(byModel.ToFrozenDictionary(StringComparer.Ordinal), byAlias.ToFrozenDictionary(StringComparer.Ordinal));
    }

    /// <summary>The price for <paramref name="model"/> by the lookup rule above, or null. Allocation-free.</summary>
    public ModelPrice? Find(ReadOnlySpan<char> model)
    {
        if (FindDirect(model) is { } direct)
        {
            return direct;
        }

        var undated = WithoutSnapshotSuffix(model);
        return undated.Length < model.Length && undated.Length > 0 ? FindDirect(undated) : null;
    }

    /// <summary>USD cost of <paramref name="usage"/> on <paramref name="model"/>; null when the model has no price.</summary>
    public decimal? Cost(ReadOnlySpan<char> model, in Usage usage) => Find(model)?.Cost(usage);

    private ModelPrice? FindDirect(ReadOnlySpan<char> model) =>
        _priceLookup.TryGetValue(model, out var price) || _aliasLookup.TryGetValue(model, out price) ? price : null;

    /// <summary>Removes a trailing <c>-YYYY-MM-DD</c> or <c>-YYYYMMDD</c>; returns the input unchanged otherwise.</summary>
    internal static ReadOnlySpan<char> WithoutSnapshotSuffix(ReadOnlySpan<char> model)
    {
        // "-2024-08-06": 11 characters.
        if (
            model.Length > 11
            && model[^11] == '-'
            && model[^6] == '-'
            && model[^3] == '-'
            && AllDigits(model.Slice(model.Length - 10, 4))
            && AllDigits(model.Slice(model.Length - 5, 2))
            && AllDigits(model[^2..])
        )
        {
            return model[..^11];
        }

        // "-20250929": 9 characters.
        if (model.Length > 9 && model[^9] == '-' && AllDigits(model[^8..]))
        {
            return model[..^9];
        }

        return model;
    }

    private static bool AllDigits(ReadOnlySpan<char> s)
    {
        foreach (var c in s)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
