using System.Text.Json;
using Archestra.Gateway.Llm;
using Archestra.Storage;
using Archestra.Policy.Llm;
using Microsoft.AspNetCore.Http;

namespace Archestra.Gateway.Admin;

/// <summary>
/// <c>/api/llm/prices</c> (USD per million tokens, by model), <c>/api/llm/limits</c> (tokens or USD per profile and
/// period) and <c>/api/llm/optimization-rules</c> (send matching requests to a cheaper model).
/// </summary>
internal sealed partial class AdminHandlers
{
    private static readonly string[] s_priceKeys = ["model", "inputPerMillion", "outputPerMillion", "cachedInputPerMillion"];
    private static readonly string[] s_limitKeys = ["id", "profile", "kind", "period", "value"];
    private static readonly string[] s_ruleKeys = ["id", "profile", "conditions", "targetModel", "enabled"];
    private static readonly string[] s_ruleConditionKeys = ["maxInputTokens", "maxInputChars", "hasTools", "requestedModel"];

    // Bounds that both dialects store exactly: PostgreSQL numeric(20, 10) holds < 1e10; SQLite keeps money as
    // INTEGER units of 1e-10 USD, so at most ~9.2e8 USD.
    private const decimal MaxUsd = 100_000_000m;
    private const long MaxTokens = 9_999_999_999;

    /// <param name="Kind">tokens or usd (stored as the schema's "cost").</param>
    private sealed record ApiLimit(Guid Id, string Profile, string Kind, string Period, decimal Value, DateTime CreatedAt, DateTime UpdatedAt)
    {
        public LimitRow ToRow() => new(Id, Profile, Kind == "tokens" ? "tokens" : "cost", Period, Value, Enabled: true, CreatedAt, UpdatedAt);
    }

    private sealed record ApiRule(Guid Id, string? Profile, RuleConditions Conditions, string TargetModel, bool Enabled, DateTime CreatedAt, DateTime UpdatedAt)
    {
        public OptimizationRuleRow ToRow() =>
            new(Id, StoredJson.Strings(Profile is null ? [] : [Profile]), StoredJson.Write(w => WriteRuleConditions(w, Conditions)), TargetModel, Enabled, CreatedAt, UpdatedAt);
    }

    private void AddLlmCostRoutes(List<AdminRoute> routes)
    {
        const string tag = "llm";
        routes.Add(new("GET", "/api/llm/prices", tag, "List token prices (USD per million tokens)", (h, c) => ListPricesAsync(h)));
        routes.Add(new("POST", "/api/llm/prices", tag, "Create a model's price: model, inputPerMillion, outputPerMillion, cachedInputPerMillion", (h, c) => WritePriceAsync(h, c, null), Body: true));
        routes.Add(new("GET", "/api/llm/prices/{model}", tag, "Get one model's price", (h, c) => GetPriceAsync(h)));
        routes.Add(new("PUT", "/api/llm/prices/{model}", tag, "Replace a model's price", (h, c) => WritePriceAsync(h, c, AdminRequest.Route(h, "model")), Body: true));
        routes.Add(new("DELETE", "/api/llm/prices/{model}", tag, "Delete a model's price", DeletePriceAsync));

        routes.Add(new("GET", "/api/llm/limits", tag, "List usage limits", (h, c) => ListLimitsAsync(h)));
        routes.Add(new("POST", "/api/llm/limits", tag, "Create a limit: profile, kind (tokens or usd), period (day, month or total), value", (h, c) => WriteLimitAsync(h, c, null), Body: true));
        routes.Add(new("GET", "/api/llm/limits/{id}", tag, "Get one limit", (h, c) => GetLimitAsync(h)));
        routes.Add(new("PUT", "/api/llm/limits/{id}", tag, "Replace a limit", (h, c) => WriteLimitAsync(h, c, AdminRequest.Route(h, "id")), Body: true));
        routes.Add(new("DELETE", "/api/llm/limits/{id}", tag, "Delete a limit", DeleteLimitAsync));

        routes.Add(new("GET", "/api/llm/optimization-rules", tag, "List optimization rules", (h, c) => ListRulesAsync(h)));
        routes.Add(new("POST", "/api/llm/optimization-rules", tag, "Create an optimization rule: profile, conditions {maxInputTokens, maxInputChars, hasTools, requestedModel}, targetModel, enabled", (h, c) => WriteRuleAsync(h, c, null), Body: true));
        routes.Add(new("GET", "/api/llm/optimization-rules/{id}", tag, "Get one optimization rule", (h, c) => GetRuleAsync(h)));
        routes.Add(new("PUT", "/api/llm/optimization-rules/{id}", tag, "Replace an optimization rule", (h, c) => WriteRuleAsync(h, c, AdminRequest.Route(h, "id")), Body: true));
        routes.Add(new("DELETE", "/api/llm/optimization-rules/{id}", tag, "Delete an optimization rule", DeleteRuleAsync));
    }

    // ---- prices -----------------------------------------------------------------------------------------------

    private Task<IReadOnlyList<PriceRow>> LoadPricesAsync(CancellationToken ct) => Store.Prices.ListAsync(ct);

    private async Task<AdminResult> ListPricesAsync(HttpContext http)
    {
        var prices = await LoadPricesAsync(http.RequestAborted).ConfigureAwait(false);
        return AdminResult.Ok(w => WriteItems(w, prices, WritePrice));
    }

    private async Task<AdminResult> GetPriceAsync(HttpContext http)
    {
        var model = AdminRequest.Route(http, "model");
        var prices = await LoadPricesAsync(http.RequestAborted).ConfigureAwait(false);
        return prices.FirstOrDefault(p => p.Model == model) is { } price
            ? AdminResult.Ok(w => WritePrice(w, price))
            : AdminResult.NotFound("price for model", model);
    }

    private async Task<AdminResult> WritePriceAsync(HttpContext http, Caller caller, string? existingModel)
    {
        var ct = http.RequestAborted;
        var (document, problem) = await AdminRequest.ReadObjectAsync(http).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        using var doc = document!;
        var body = doc.RootElement;
        var errors = new List<FieldError>();
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
        if (errors.Count > 0 || model is null || input is null || output is null)
        {
            return AdminResult.Invalid(errors);
        }

        await _changing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var prices = await LoadPricesAsync(ct).ConfigureAwait(false);
            var current = prices.FirstOrDefault(p => p.Model == model);
            if (existingModel is null && current is not null)
            {
                return AdminResult.Conflict($"model '{model}' already has a price; change it with PUT /api/llm/prices/{model}");
            }

            if (existingModel is not null && current is null)
            {
                return AdminResult.NotFound("price for model", model);
            }

            var now = AuditTime.Truncate(DateTime.UtcNow);
            var row = new PriceRow(model, input.Value, output.Value, cached, current?.CreatedAt ?? now, now);
            await ChangeAsync(caller, current is null ? "create" : "update", "llm-price", model,
                tx => current is null ? Store.Prices.InsertAsync(tx, row, ct) : Store.Prices.UpdateAsync(tx, row, ct),
                w => WritePrice(w, row),
                ct).ConfigureAwait(false);
            return current is null ? AdminResult.Created(w => WritePrice(w, row)) : AdminResult.Ok(w => WritePrice(w, row));
        }
        finally
        {
            _changing.Release();
        }
    }

    private Task<AdminResult> DeletePriceAsync(HttpContext http, Caller caller) =>
        DeleteOneAsync(http, caller, "model", "price for model", "llm-price", Store.Prices, async (model, ct) => (await LoadPricesAsync(ct).ConfigureAwait(false)).FirstOrDefault(p => p.Model == model));

    private static void WritePrice(Utf8JsonWriter w, PriceRow price)
    {
        w.WriteStartObject();
        w.WriteString("model"u8, price.Model);
        w.WriteNumber("inputPerMillion"u8, Normalize(price.Input));
        w.WriteNumber("outputPerMillion"u8, Normalize(price.Output));
        if (price.CachedInput is { } cached)
        {
            w.WriteNumber("cachedInputPerMillion"u8, Normalize(cached));
        }

        w.WriteString("managedBy"u8, "api");
        w.WriteString("createdAt"u8, price.CreatedAt);
        w.WriteString("updatedAt"u8, price.UpdatedAt);
        w.WriteEndObject();
    }

    // ---- limits -----------------------------------------------------------------------------------------------

    private async Task<List<ApiLimit>> LoadLimitsAsync(CancellationToken ct) => (await Store.Limits.ListAsync(ct).ConfigureAwait(false))
        .Select(static r => new ApiLimit(r.Id, r.Target, r.Kind == "tokens" ? "tokens" : "usd", r.Period, r.Amount, r.CreatedAt, r.UpdatedAt)).ToList();

    private async Task<AdminResult> ListLimitsAsync(HttpContext http)
    {
        var limits = await LoadLimitsAsync(http.RequestAborted).ConfigureAwait(false);
        return AdminResult.Ok(w => WriteItems(w, limits, WriteLimit));
    }

    private async Task<AdminResult> GetLimitAsync(HttpContext http)
    {
        var id = AdminRequest.Route(http, "id");
        var limits = await LoadLimitsAsync(http.RequestAborted).ConfigureAwait(false);
        return limits.FirstOrDefault(l => l.Id.ToString("D") == id) is { } limit
            ? AdminResult.Ok(w => WriteLimit(w, limit))
            : AdminResult.NotFound("limit", id);
    }

    private async Task<AdminResult> WriteLimitAsync(HttpContext http, Caller caller, string? existingId)
    {
        var ct = http.RequestAborted;
        var (document, problem) = await AdminRequest.ReadObjectAsync(http).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        using var doc = document!;
        var body = doc.RootElement;
        var errors = new List<FieldError>();
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

        if (errors.Count > 0 || profile is null || kind is null || period is null || value is null)
        {
            return AdminResult.Invalid(errors);
        }

        await _changing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var limits = await LoadLimitsAsync(ct).ConfigureAwait(false);
            var current = existingId is null ? null : limits.FirstOrDefault(l => l.Id.ToString("D") == existingId);
            if (existingId is not null && current is null)
            {
                return AdminResult.NotFound("limit", existingId);
            }

            if (!await ProfileExistsAsync(profile, ct).ConfigureAwait(false))
            {
                return AdminResult.Invalid("$.profile", $"no profile named '{profile}' (in the configuration file or the API)");
            }

            if (limits.FirstOrDefault(l => l.Id != current?.Id && l.Profile == profile && l.Kind == kind && l.Period == period) is { } twin)
            {
                return AdminResult.Conflict($"profile '{profile}' already has a {kind} limit per {period} ({twin.Id:D}); change that one");
            }

            var now = AuditTime.Truncate(DateTime.UtcNow);
            var row = new ApiLimit(current?.Id ?? Guid.CreateVersion7(), profile, kind, period, value.Value, current?.CreatedAt ?? now, now);
            await ChangeAsync(caller, current is null ? "create" : "update", "llm-limit", row.Id.ToString("D"),
                tx => current is null ? Store.Limits.InsertAsync(tx, row.ToRow(), ct) : Store.Limits.UpdateAsync(tx, row.ToRow(), ct),
                w => WriteLimit(w, row),
                ct).ConfigureAwait(false);
            return current is null ? AdminResult.Created(w => WriteLimit(w, row)) : AdminResult.Ok(w => WriteLimit(w, row));
        }
        finally
        {
            _changing.Release();
        }
    }

    private Task<AdminResult> DeleteLimitAsync(HttpContext http, Caller caller) =>
        DeleteOneAsync(http, caller, "id", "limit", "llm-limit", Store.Limits, async (id, ct) => (await LoadLimitsAsync(ct).ConfigureAwait(false)).FirstOrDefault(l => l.Id.ToString("D") == id)?.ToRow());

    private static void WriteLimit(Utf8JsonWriter w, ApiLimit limit)
    {
        w.WriteStartObject();
        w.WriteString("id"u8, limit.Id.ToString("D"));
        w.WriteString("profile"u8, limit.Profile);
        w.WriteString("kind"u8, limit.Kind);
        w.WriteString("period"u8, limit.Period);
        w.WriteNumber("value"u8, Normalize(limit.Value));
        w.WriteString("managedBy"u8, "api");
        w.WriteString("createdAt"u8, limit.CreatedAt);
        w.WriteString("updatedAt"u8, limit.UpdatedAt);
        w.WriteEndObject();
    }

    // ---- optimization rules -----------------------------------------------------------------------------------

    private async Task<List<ApiRule>> LoadRulesAsync(CancellationToken ct) => (await Store.OptimizationRules.ListAsync(ct).ConfigureAwait(false))
        .Select(static r => new ApiRule(r.Id, StoredJson.ParseStrings(r.ProfilesJson).FirstOrDefault(), LlmCosts.ReadRuleConditions(r.ConditionsJson), r.TargetModel, r.Enabled, r.CreatedAt, r.UpdatedAt))
        .ToList();

    private async Task<AdminResult> ListRulesAsync(HttpContext http)
    {
        var rules = await LoadRulesAsync(http.RequestAborted).ConfigureAwait(false);
        return AdminResult.Ok(w => WriteItems(w, rules, WriteRule));
    }

    private async Task<AdminResult> GetRuleAsync(HttpContext http)
    {
        var id = AdminRequest.Route(http, "id");
        var rules = await LoadRulesAsync(http.RequestAborted).ConfigureAwait(false);
        return rules.FirstOrDefault(r => r.Id.ToString("D") == id) is { } rule
            ? AdminResult.Ok(w => WriteRule(w, rule))
            : AdminResult.NotFound("optimization rule", id);
    }

    private async Task<AdminResult> WriteRuleAsync(HttpContext http, Caller caller, string? existingId)
    {
        var ct = http.RequestAborted;
        var (document, problem) = await AdminRequest.ReadObjectAsync(http).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        using var doc = document!;
        var body = doc.RootElement;
        var errors = new List<FieldError>();
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
        if (errors.Count > 0 || targetModel is null || conditions is null)
        {
            return AdminResult.Invalid(errors);
        }

        await _changing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var rules = await LoadRulesAsync(ct).ConfigureAwait(false);
            var current = existingId is null ? null : rules.FirstOrDefault(r => r.Id.ToString("D") == existingId);
            if (existingId is not null && current is null)
            {
                return AdminResult.NotFound("optimization rule", existingId);
            }

            if (profile is not null && !await ProfileExistsAsync(profile, ct).ConfigureAwait(false))
            {
                return AdminResult.Invalid("$.profile", $"no profile named '{profile}' (in the configuration file or the API)");
            }

            var now = AuditTime.Truncate(DateTime.UtcNow);
            var row = new ApiRule(current?.Id ?? Guid.CreateVersion7(), profile, conditions, targetModel, enabled, current?.CreatedAt ?? now, now);
            await ChangeAsync(caller, current is null ? "create" : "update", "llm-optimization-rule", row.Id.ToString("D"),
                tx => current is null ? Store.OptimizationRules.InsertAsync(tx, row.ToRow(), ct) : Store.OptimizationRules.UpdateAsync(tx, row.ToRow(), ct),
                w => WriteRule(w, row),
                ct).ConfigureAwait(false);
            return current is null ? AdminResult.Created(w => WriteRule(w, row)) : AdminResult.Ok(w => WriteRule(w, row));
        }
        finally
        {
            _changing.Release();
        }
    }

    private Task<AdminResult> DeleteRuleAsync(HttpContext http, Caller caller) =>
        DeleteOneAsync(http, caller, "id", "optimization rule", "llm-optimization-rule", Store.OptimizationRules,
            async (id, ct) => (await LoadRulesAsync(ct).ConfigureAwait(false)).FirstOrDefault(r => r.Id.ToString("D") == id)?.ToRow());

    /// <summary>
    /// Deletes the resource the route names: <paramref name="find"/> returns its row, or null for 404. Under the change
    /// lock, with its change-log row, like every other change.
    /// </summary>
    private async Task<AdminResult> DeleteOneAsync<TRow>(
        HttpContext http, Caller caller, string routeValue, string what, string kind, Repository<TRow> repository, Func<string, CancellationToken, Task<TRow?>> find)
        where TRow : class
    {
        var ct = http.RequestAborted;
        var name = AdminRequest.Route(http, routeValue);
        await _changing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (await find(name, ct).ConfigureAwait(false) is not { } row)
            {
                return AdminResult.NotFound(what, name);
            }

            await ChangeAsync(caller, "delete", kind, name, tx => repository.DeleteAsync(tx, row, ct), NoDetails, ct).ConfigureAwait(false);
            return AdminResult.NoContent;
        }
        finally
        {
            _changing.Release();
        }
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
            errors.Add(new FieldError("$.conditions", $"expected an object with one or more of {string.Join(", ", s_ruleConditionKeys)}, got {AdminRequest.Kind(element)}"));
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
                errors.Add(new FieldError("$.conditions.requestedModel", "expected a non-empty string: a model name, or a glob where * matches any characters"));
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

    private static void WriteRule(Utf8JsonWriter w, ApiRule rule)
    {
        w.WriteStartObject();
        w.WriteString("id"u8, rule.Id.ToString("D"));
        if (rule.Profile is { } profile)
        {
            w.WriteString("profile"u8, profile);
        }
        else
        {
            w.WriteNull("profile"u8);
        }

        w.WritePropertyName("conditions"u8);
        WriteRuleConditions(w, rule.Conditions);
        w.WriteString("targetModel"u8, rule.TargetModel);
        w.WriteBoolean("enabled"u8, rule.Enabled);
        w.WriteString("managedBy"u8, "api");
        w.WriteString("createdAt"u8, rule.CreatedAt);
        w.WriteString("updatedAt"u8, rule.UpdatedAt);
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
        foreach (var limit in await LoadLimitsAsync(ct).ConfigureAwait(false))
        {
            if (limit.Profile == profile)
            {
                users.Add($"limit {limit.Id:D}");
            }
        }

        foreach (var rule in await LoadRulesAsync(ct).ConfigureAwait(false))
        {
            if (rule.Profile == profile)
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
            errors.Add(new FieldError("$.id", existingId is null
                ? $"the id of a {what} is assigned by the server; leave it out"
                : $"a {what}'s id cannot change; expected '{existingId}' or no id"));
        }
    }

    private static void WriteItems<T>(Utf8JsonWriter w, IReadOnlyList<T> items, Action<Utf8JsonWriter, T> write)
    {
        w.WriteStartObject();
        w.WriteStartArray("items"u8);
        foreach (var item in items)
        {
            write(w, item);
        }

        w.WriteEndArray();
        w.WriteEndObject();
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
            errors.Add(new FieldError("$." + key, $"expected a number of US dollars, {(allowZero ? "0" : "more than 0")} to {MaxUsd:0}, got {value.GetRawText()}"));
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
