using System.Text.Json;
using Archestra.Gateway.Llm;
using Archestra.Policy.Llm;
using Archestra.Storage;

namespace Archestra.Gateway.Admin;

/// <summary>
/// <c>/api/llm/prices</c> (USD per million tokens, by model), <c>/api/llm/limits</c> (tokens or USD per profile and
/// period) and <c>/api/llm/optimization-rules</c> (send matching requests to a cheaper model): three
/// <see cref="AdminResource{TRow, TBody}"/>s, each its reader, its checks and its body.
/// </summary>
internal sealed partial class AdminHandlers
{
    private static readonly string[] s_priceKeys = AdminBodies.Keys(AdminJson.Default.PriceRequest);
    private static readonly string[] s_limitKeys = AdminBodies.Keys(AdminJson.Default.LimitRequest);
    private static readonly string[] s_ruleKeys = AdminBodies.Keys(AdminJson.Default.RuleRequest);
    private static readonly string[] s_ruleConditionKeys = AdminBodies.Keys(AdminJson.Default.RuleConditionsBody);

    // Bounds that both dialects store exactly: PostgreSQL numeric(20, 10) holds < 1e10; SQLite keeps money as
    // INTEGER units of 1e-10 USD, so at most ~9.2e8 USD.
    private const decimal MaxUsd = 100_000_000m;
    private const long MaxTokens = 9_999_999_999;

    private void AddLlmCostRoutes(List<AdminRoute> routes)
    {
        const string tag = "llm";
        AddResourceRoutes(
            routes,
            tag,
            Prices,
            new(
                "List token prices (USD per million tokens)",
                "Create a model's price: model, inputPerMillion, outputPerMillion, cachedInputPerMillion",
                "Get one model's price",
                "Replace a model's price",
                "Delete a model's price"
            ),
            AdminJson.Default.PriceRequest
        );
        AddResourceRoutes(
            routes,
            tag,
            Limits,
            new(
                "List usage limits",
                "Create a limit: profile, kind (tokens or usd), period (day, month or total), value",
                "Get one limit",
                "Replace a limit",
                "Delete a limit"
            ),
            AdminJson.Default.LimitRequest
        );
        AddResourceRoutes(
            routes,
            tag,
            Rules,
            new(
                "List optimization rules",
                "Create an optimization rule: profile, conditions {maxInputTokens, maxInputChars, hasTools, requestedModel}, targetModel, enabled",
                "Get one optimization rule",
                "Replace an optimization rule",
                "Delete an optimization rule"
            ),
            AdminJson.Default.RuleRequest
        );
    }

    // ---- prices -----------------------------------------------------------------------------------------------

    private AdminResource<PriceRow, PriceBody> Prices =>
        new(
            "llm-price",
            "price for model",
            "/api/llm/prices",
            "model",
            Store.Prices,
            static p => p.Model,
            PriceBodyOf,
            AdminJson.Default.PriceBody,
            AdminJson.Default.ItemsBodyPriceBody,
            ReadPrice,
            static (row, current, now) => row with { CreatedAt = current?.CreatedAt ?? now, UpdatedAt = now },
            static (_, _, _, _) => Task.FromResult<AdminResult?>(null)
        )
        {
            Taken = static model => $"model '{model}' already has a price; change it with PUT /api/llm/prices/{model}",
        };

    private static PriceRow? ReadPrice(JsonElement body, string? existingModel, List<FieldError> errors)
    {
        AdminRequest.UnknownKeys(body, "$", s_priceKeys, errors);
        string? model;
        if (existingModel is null)
        {
            model = AdminRequest.RequiredString(body, "model", errors);
            if (model is not null && !IsModelName(model))
            {
                errors.Add(new FieldError("$.model", "a model name must be 1-200 characters without whitespace, '/', '?', '#' or '%'"));
            }
        }
        else
        {
            model = existingModel;
            if (AdminRequest.OptionalString(body, "model", errors) is { } given && given != existingModel)
            {
                errors.Add(new FieldError("$.model", $"a price's model cannot change; expected '{existingModel}' or no model"));
            }
        }

        var input = Usd(body, "inputPerMillion", required: true, allowZero: true, errors);
        var output = Usd(body, "outputPerMillion", required: true, allowZero: true, errors);
        var cached = Usd(body, "cachedInputPerMillion", required: false, allowZero: true, errors);
        return model is null || input is null || output is null ? null : new PriceRow(model, input.Value, output.Value, cached, default, default);
    }

    private static PriceBody PriceBodyOf(PriceRow price) =>
        new(
            price.Model,
            Normalize(price.Input),
            Normalize(price.Output),
            "api",
            price.CreatedAt,
            price.UpdatedAt,
            price.CachedInput is { } cached ? Normalize(cached) : null
        );

    // ---- limits -----------------------------------------------------------------------------------------------

    private AdminResource<LimitRow, LimitBody> Limits =>
        new(
            "llm-limit",
            "limit",
            "/api/llm/limits",
            "id",
            Store.Limits,
            static l => l.Id.ToString("D"),
            LimitBodyOf,
            AdminJson.Default.LimitBody,
            AdminJson.Default.ItemsBodyLimitBody,
            ReadLimit,
            static (row, current, now) => row with { Id = current?.Id ?? Guid.CreateVersion7(), CreatedAt = current?.CreatedAt ?? now, UpdatedAt = now },
            CheckLimitAsync
        );

    private static LimitRow? ReadLimit(JsonElement body, string? existingId, List<FieldError> errors)
    {
        AdminRequest.UnknownKeys(body, "$", s_limitKeys, errors);
        CheckGivenId(body, existingId, "limit", errors);
        var profile = AdminRequest.RequiredString(body, "profile", errors);
        var kind = AdminRequest.RequiredString(body, "kind", errors);
        if (kind is not null and not "tokens" and not "usd")
        {
            errors.Add(new FieldError("$.kind", $"expected one of tokens, usd, got '{kind}'"));
            kind = null;
        }

        var period = AdminRequest.RequiredString(body, "period", errors);
        if (period is not null and not "day" and not "month" and not "total")
        {
            errors.Add(new FieldError("$.period", $"expected one of day, month, total, got '{period}'"));
        }

        decimal? value = null;
        if (kind == "tokens")
        {
            value = Tokens(body, "value", required: true, errors);
        }
        else if (kind == "usd")
        {
            value = Usd(body, "value", required: true, allowZero: false, errors);
        }

        // The schema's kind of a USD limit is "cost".
        return profile is null || kind is null || period is null || value is null
            ? null
            : new LimitRow(Guid.Empty, profile, kind == "tokens" ? "tokens" : "cost", period, value.Value, Enabled: true, default, default);
    }

    private async Task<AdminResult?> CheckLimitAsync(LimitRow limit, LimitRow? current, IReadOnlyList<LimitRow> limits, CancellationToken ct)
    {
        if (!await ProfileExistsAsync(limit.Target, ct).ConfigureAwait(false))
        {
            return AdminResult.Invalid("$.profile", $"no profile named '{limit.Target}' (in the configuration file or the API)");
        }

        return limits.FirstOrDefault(l => l.Id != current?.Id && l.Target == limit.Target && l.Kind == limit.Kind && l.Period == limit.Period) is { } twin
            ? AdminResult.Conflict($"profile '{limit.Target}' already has a {LimitBodyOf(limit).Kind} limit per {limit.Period} ({twin.Id:D}); change that one")
            : null;
    }

    private static LimitBody LimitBodyOf(LimitRow limit) =>
        new(
            limit.Id.ToString("D"),
            limit.Target,
            limit.Kind == "tokens" ? "tokens" : "usd",
            limit.Period,
            Normalize(limit.Amount),
            "api",
            limit.CreatedAt,
            limit.UpdatedAt
        );

    // ---- optimization rules -----------------------------------------------------------------------------------

    private AdminResource<OptimizationRuleRow, RuleBody> Rules =>
        new(
            "llm-optimization-rule",
            "optimization rule",
            "/api/llm/optimization-rules",
            "id",
            Store.OptimizationRules,
            static r => r.Id.ToString("D"),
            RuleBodyOf,
            AdminJson.Default.RuleBody,
            AdminJson.Default.ItemsBodyRuleBody,
            ReadRule,
            static (row, current, now) => row with { Id = current?.Id ?? Guid.CreateVersion7(), CreatedAt = current?.CreatedAt ?? now, UpdatedAt = now },
            CheckRuleAsync
        );

    private static OptimizationRuleRow? ReadRule(JsonElement body, string? existingId, List<FieldError> errors)
    {
        AdminRequest.UnknownKeys(body, "$", s_ruleKeys, errors);
        CheckGivenId(body, existingId, "optimization rule", errors);
        var profile = AdminRequest.OptionalString(body, "profile", errors);
        var targetModel = AdminRequest.RequiredString(body, "targetModel", errors);
        var enabled = true;
        if (body.TryGetProperty("enabled", out var enabledValue) && enabledValue.ValueKind != JsonValueKind.Null)
        {
            if (enabledValue.ValueKind is JsonValueKind.True or JsonValueKind.False)
            {
                enabled = enabledValue.GetBoolean();
            }
            else
            {
                errors.Add(new FieldError("$.enabled", $"expected a boolean, got {AdminRequest.Kind(enabledValue)}"));
            }
        }

        var conditions = ReadRuleConditions(body, errors);
        return targetModel is null || conditions is null
            ? null
            : new OptimizationRuleRow(
                Guid.Empty,
                StoredJson.Strings(profile is null ? [] : [profile]),
                StoredJson.Write(w => WriteRuleConditions(w, conditions)),
                targetModel,
                enabled,
                default,
                default
            );
    }

    private async Task<AdminResult?> CheckRuleAsync(
        OptimizationRuleRow rule,
        OptimizationRuleRow? current,
        IReadOnlyList<OptimizationRuleRow> rules,
        CancellationToken ct
    ) =>
        RuleProfile(rule) is { } profile && !await ProfileExistsAsync(profile, ct).ConfigureAwait(false)
            ? AdminResult.Invalid("$.profile", $"no profile named '{profile}' (in the configuration file or the API)")
            : null;

    private static string? RuleProfile(OptimizationRuleRow rule) => StoredJson.ParseStrings(rule.ProfilesJson).FirstOrDefault();

    private static RuleBody RuleBodyOf(OptimizationRuleRow rule)
    {
        var conditions = LlmCosts.ReadRuleConditions(rule.ConditionsJson);
        return new RuleBody(
            rule.Id.ToString("D"),
            RuleProfile(rule),
            new RuleConditionsBody(conditions.MaxInputTokens, conditions.MaxInputChars, conditions.HasTools, conditions.RequestedModel),
            rule.TargetModel,
            rule.Enabled,
            "api",
            rule.CreatedAt,
            rule.UpdatedAt
        );
    }

    private static RuleConditions? ReadRuleConditions(JsonElement body, List<FieldError> errors)
    {
        if (!body.TryGetProperty("conditions", out var element))
        {
            errors.Add(new FieldError("$", "missing conditions"));
            return null;
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            errors.Add(
                new FieldError(
                    "$.conditions",
                    $"expected an object with one or more of {string.Join(", ", s_ruleConditionKeys)}, got {AdminRequest.Kind(element)}"
                )
            );
            return null;
        }

        var count = errors.Count;
        AdminRequest.UnknownKeys(element, "$.conditions", s_ruleConditionKeys, errors);
        var maxTokens = Tokens(element, "maxInputTokens", required: false, errors, "$.conditions");
        var maxChars = Tokens(element, "maxInputChars", required: false, errors, "$.conditions");
        bool? hasTools = null;
        if (element.TryGetProperty("hasTools", out var tools) && tools.ValueKind != JsonValueKind.Null)
        {
            if (tools.ValueKind is JsonValueKind.True or JsonValueKind.False)
            {
                hasTools = tools.GetBoolean();
            }
            else
            {
                errors.Add(new FieldError("$.conditions.hasTools", $"expected a boolean, got {AdminRequest.Kind(tools)}"));
            }
        }

        string? requested = null;
        if (element.TryGetProperty("requestedModel", out var model) && model.ValueKind != JsonValueKind.Null)
        {
            if (model.ValueKind == JsonValueKind.String && model.GetString() is { Length: > 0 } text)
            {
                requested = text;
            }
            else
            {
                errors.Add(
                    new FieldError("$.conditions.requestedModel", "expected a non-empty string: a model name, or a glob where * matches any characters")
                );
            }
        }

        if (errors.Count > count)
        {
            return null;
        }

        if (maxTokens is null && maxChars is null && hasTools is null && requested is null)
        {
            errors.Add(new FieldError("$.conditions", $"a rule needs at least one condition: {string.Join(", ", s_ruleConditionKeys)}"));
            return null;
        }

        return new RuleConditions(maxTokens is { } t ? (long)t : null, maxChars is { } c ? (long)c : null, hasTools, requested);
    }

    private static void WriteRuleConditions(Utf8JsonWriter w, RuleConditions conditions)
    {
        w.WriteStartObject();
        if (conditions.MaxInputTokens is { } tokens)
        {
            w.WriteNumber("maxInputTokens"u8, tokens);
        }

        if (conditions.MaxInputChars is { } chars)
        {
            w.WriteNumber("maxInputChars"u8, chars);
        }

        if (conditions.HasTools is { } tools)
        {
            w.WriteBoolean("hasTools"u8, tools);
        }

        if (conditions.RequestedModel is { } model)
        {
            w.WriteString("requestedModel"u8, model);
        }

        w.WriteEndObject();
    }

    // ---- shared -----------------------------------------------------------------------------------------------

    private async Task<bool> ProfileExistsAsync(string name, CancellationToken ct)
    {
        if (File.Profiles.Any(p => p.Name == name))
        {
            return true;
        }

        return await Store.Profiles.GetAsync(name, ct).ConfigureAwait(false) is not null;
    }

    /// <summary>The names of the limits and optimization rules that name a profile (which then cannot be deleted).</summary>
    private async Task<List<string>> ProfileUsersAsync(string profile, CancellationToken ct)
    {
        var users = new List<string>();
        foreach (var limit in await Store.Limits.ListAsync(ct).ConfigureAwait(false))
        {
            if (limit.Target == profile)
            {
                users.Add($"limit {limit.Id:D}");
            }
        }

        foreach (var rule in await Store.OptimizationRules.ListAsync(ct).ConfigureAwait(false))
        {
            if (RuleProfile(rule) == profile)
            {
                users.Add($"optimization rule {rule.Id:D}");
            }
        }

        return users;
    }

    private static void CheckGivenId(JsonElement body, string? existingId, string what, List<FieldError> errors)
    {
        if (body.TryGetProperty("id", out var given) && (existingId is null || given.ValueKind != JsonValueKind.String || given.GetString() != existingId))
        {
            errors.Add(
                new FieldError(
                    "$.id",
                    existingId is null
                        ? $"the id of a {what} is assigned by the server; leave it out"
                        : $"a {what}'s id cannot change; expected '{existingId}' or no id"
                )
            );
        }
    }

    /// <summary>A USD amount: a JSON number, ≥ 0 (or &gt; 0), at most <see cref="MaxUsd"/>.</summary>
    private static decimal? Usd(JsonElement body, string key, bool required, bool allowZero, List<FieldError> errors)
    {
        if (!body.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            if (required)
            {
                errors.Add(new FieldError("$", $"missing {key}"));
            }

            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDecimal(out var amount) || amount < 0 || (!allowZero && amount == 0) || amount > MaxUsd)
        {
            errors.Add(
                new FieldError("$." + key, $"expected a number of US dollars, {(allowZero ? "0" : "more than 0")} to {MaxUsd:0}, got {value.GetRawText()}")
            );
            return null;
        }

        return amount;
    }

    /// <summary>A positive whole number (tokens, characters), at most <see cref="MaxTokens"/>.</summary>
    private static decimal? Tokens(JsonElement body, string key, bool required, List<FieldError> errors, string path = "$")
    {
        if (!body.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            if (required)
            {
                errors.Add(new FieldError(path, $"missing {key}"));
            }

            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var count) || count <= 0 || count > MaxTokens)
        {
            errors.Add(new FieldError(path + "." + key, $"expected a whole number from 1 to {MaxTokens}, got {value.GetRawText()}"));
            return null;
        }

        return count;
    }

    /// <summary>Model names end up in URL paths (/api/llm/prices/{model}).</summary>
    private static bool IsModelName(string name) =>
        name.Length is > 0 and <= 200 && !name.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '/' or '?' or '#' or '%');

    /// <summary>Drops trailing zeros (PostgreSQL numeric(20, 10) reads 2.5 back as 2.5000000000).</summary>
    private static decimal Normalize(decimal value) => value / 1.0000000000000000000000000000m;
}
