using System.Text.Json;
using Archestra.Policy.Llm;
using Archestra.Storage;

namespace Archestra.Gateway.Llm;

/// <summary>
/// What the proxy prices, limits and rewrites with, built from the admin API's rows (<c>/api/llm/prices</c>,
/// <c>/api/llm/limits</c>, <c>/api/llm/optimization-rules</c>). Prices are <see cref="DefaultPrices"/> with the
/// database's rows on top: a row replaces the seeded price of the same model id whole.
/// </summary>
internal sealed record LlmCosts(PriceTable Prices, LimitSet Limits, OptimizationRules Rules)
{
    public static LlmCosts Defaults { get; } = new(DefaultPrices.Table, LimitSet.Empty, OptimizationRules.Empty);

    public static async Task<LlmCosts> LoadAsync(ArchestraStore store, CancellationToken ct)
    {
        var rows = (await store.Prices.ListAsync(ct).ConfigureAwait(false))
            .Select(static r => new ModelPrice(r.Model, r.Input, r.Output, r.CachedInput))
            .ToList();
        var limits = (await store.Limits.ListAsync(ct).ConfigureAwait(false))
            .Where(static r => r.Enabled)
            .Select(static r =>
            {
                var period = r.Period switch
                {
                    "day" => LimitPeriod.Day,
                    "month" => LimitPeriod.Month,
                    _ => LimitPeriod.Total,
                };
                return new LimitDefinition(r.Id.ToString("D"), r.Target, r.Kind == "tokens" ? LimitKind.Tokens : LimitKind.Usd, period, r.Amount);
            })
            .ToList();
        var rules = (await store.OptimizationRules.ListAsync(ct).ConfigureAwait(false))
            .Select(static r => new OptimizationRuleDefinition(
                r.Id.ToString("D"),
                FirstString(r.ProfilesJson),
                ReadRuleConditions(r.ConditionsJson),
                r.TargetModel,
                r.Enabled
            ))
            .ToList();
        return new LlmCosts(MergePrices(rows), LimitSet.Create(limits), OptimizationRules.Create(rules));
    }

    /// <summary>The seeded prices and aliases with <paramref name="rows"/> replacing the seeded entries of the same model.</summary>
    internal static PriceTable MergePrices(IReadOnlyCollection<ModelPrice> rows)
    {
        if (rows.Count == 0)
        {
            return DefaultPrices.Table;
        }

        var byModel = DefaultPrices.Prices.ToDictionary(p => p.Model, StringComparer.Ordinal);
        foreach (var row in rows)
        {
            byModel[row.Model] = row;
        }

        // A database price for an alias id (say claude-sonnet-4) wins over the alias.
        var aliases = DefaultPrices.Aliases.Where(a => !byModel.ContainsKey(a.Key));
        return PriceTable.Create(byModel.Values, aliases);
    }

    private static string? FirstString(string json)
    {
        using var doc = JsonDocument.Parse(json);
        foreach (var item in doc.RootElement.EnumerateArray())
        {
            if (item.ValueKind == JsonValueKind.String)
            {
                return item.GetString();
            }
        }

        return null;
    }

    /// <summary>A rule's conditions as stored (the <c>conditions</c> JSON column); the admin API reads them the same way.</summary>
    internal static RuleConditions ReadRuleConditions(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            return new RuleConditions();
        }

        long? Long(string key) => root.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : null;
        return new RuleConditions(
            Long("maxInputTokens"),
            Long("maxInputChars"),
            root.TryGetProperty("hasTools", out var tools) && tools.ValueKind is JsonValueKind.True or JsonValueKind.False ? tools.GetBoolean() : null,
            root.TryGetProperty("requestedModel", out var model) && model.ValueKind == JsonValueKind.String ? model.GetString() : null
        );
    }
}
