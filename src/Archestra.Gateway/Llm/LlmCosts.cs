using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Storage;
using Archestra.Policy.Llm;

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
        var rows = await store.QueryAsync(
            "SELECT model, input_per_million, output_per_million, cached_input_per_million FROM token_prices",
            static r => new ModelPrice(r.String(0), r.Money(1), r.Money(2), r.NullableMoney(3)), ct).ConfigureAwait(false);
        var limits = await store.QueryAsync(
            "SELECT id, target, kind, period, amount FROM limits WHERE scope = 'profile' AND managed_by = 'api' AND enabled = @enabled ORDER BY created_at, id",
            static r =>
            {
                var tokens = r.String(2) == "tokens";
                var period = r.String(3) switch
                {
                    "day" => LimitPeriod.Day,
                    "month" => LimitPeriod.Month,
                    _ => LimitPeriod.Total,
                };
                return new LimitDefinition(r.Guid(0).ToString("D"), r.NullableString(1) ?? "", tokens ? LimitKind.Tokens : LimitKind.Usd, period, tokens ? r.Long(4) : r.Money(4));
            }, ct, ("enabled", true)).ConfigureAwait(false);
        var rules = await store.QueryAsync(
            "SELECT id, profiles, conditions, target_model, enabled FROM optimization_rules WHERE managed_by = 'api' ORDER BY created_at, id",
            static r => new OptimizationRuleDefinition(r.Guid(0).ToString("D"), FirstString(r.String(1)), ReadRuleConditions(r.String(2)), r.String(3), r.Bool(4)), ct).ConfigureAwait(false);
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
            root.TryGetProperty("requestedModel", out var model) && model.ValueKind == JsonValueKind.String ? model.GetString() : null);
    }
}
