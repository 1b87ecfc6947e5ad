using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Storage;

namespace Archestra.Gateway.Admin;

/// <summary>
/// <c>/api/llm/providers</c>: the LLM providers the proxy forwards to. API keys are write-only: sealed with AES-256-GCM
/// under ARCHESTRA_SECRET_KEY in the change's transaction, and answered only by name.
/// </summary>
internal sealed partial class AdminHandlers
{
    private static readonly string[] s_providerKeys = AdminBodies.Keys(AdminJson.Default.ProviderRequest);
    private static readonly string[] s_providerSettingKeys = ["timeoutSeconds", "connectTimeoutSeconds", "retries", "maxRetryAfterSeconds", "circuitBreaker"];
    private static readonly string[] s_providerApiKeyKeys = AdminBodies.Keys(AdminJson.Default.ProviderKeyRequest);

    /// <summary>The providers' public APIs, as their SDKs default to (openai-dotnet, anthropic-sdk).</summary>
    private static string DefaultBaseUrl(string kind) =>
        LlmProviderConfig.DefaultBaseUrl(LlmProviderKinds.Parse(kind) ?? LlmProviderKind.OpenAi).AbsoluteUri.TrimEnd('/');

    private sealed record ApiProviderKey(string Name, DateTime UpdatedAt);

    private sealed record ApiProvider(
        Guid Id,
        string Name,
        string Kind,
        string BaseUrl,
        DateTime CreatedAt,
        DateTime UpdatedAt,
        IReadOnlyList<ApiProviderKey> Keys,
        string SettingsJson = "{}"
    )
    {
        public LlmProviderRow ToRow() => new(Id, Name, Kind, BaseUrl, ManagedBy.Api, CreatedAt, UpdatedAt, SettingsJson);
    }

    private void AddLlmProviderRoutes(List<AdminRoute> routes)
    {
        const string tag = "llm";
        routes.Add(
            new("GET", "/api/llm/providers", tag, "List LLM providers (API key names only, never the keys)", (h, c) => ListProvidersAsync(h))
            {
                Response = AdminJson.Default.ItemsBodyProviderBody,
            }
        );
        routes.Add(
            new(
                "POST",
                "/api/llm/providers",
                tag,
                "Create an LLM provider: name, kind (openai, anthropic or gemini), baseUrl, apiKeys [{name, key}] (write-only, fallback order), "
                    + "timeoutSeconds, connectTimeoutSeconds, retries, maxRetryAfterSeconds, circuitBreaker",
                (h, c) => WriteProviderAsync(h, c, null),
                Body: true
            )
            {
                Request = AdminJson.Default.ProviderRequest,
                Response = AdminJson.Default.ProviderBody,
            }
        );
        routes.Add(
            new("GET", "/api/llm/providers/{name}", tag, "Get one LLM provider", (h, c) => GetProviderAsync(h)) { Response = AdminJson.Default.ProviderBody }
        );
        routes.Add(
            new(
                "PUT",
                "/api/llm/providers/{name}",
                tag,
                "Replace an LLM provider; apiKeys, when given, become its whole key set (omitted: keys unchanged)",
                (h, c) => WriteProviderAsync(h, c, AdminRequest.Route(h, "name")),
                Body: true
            )
            {
                Request = AdminJson.Default.ProviderRequest,
                Response = AdminJson.Default.ProviderBody,
            }
        );
        routes.Add(new("DELETE", "/api/llm/providers/{name}", tag, "Delete an LLM provider and its keys", DeleteProviderAsync));
    }

    private async Task<List<ApiProvider>> LoadProvidersAsync(CancellationToken ct)
    {
        var keys = await Store.LlmProviders.ListKeysAsync(ct).ConfigureAwait(false);
        var rows = await Store.LlmProviders.ListAsync(ct).ConfigureAwait(false);
        return rows.Select(row =>
            {
                var own = keys.Where(k => k.ProviderId == row.Id).Select(k => new ApiProviderKey(k.Name, k.UpdatedAt)).ToList();
                var ordered = AdminResources.KeyOrder(row.SettingsJson, own.Select(k => k.Name)).Select(n => own.First(k => k.Name == n)).ToList();
                var baseUrl = row.BaseUrl ?? DefaultBaseUrl(row.Kind);
                return new ApiProvider(row.Id, row.Name, row.Kind, baseUrl, row.CreatedAt, row.UpdatedAt, ordered, row.SettingsJson);
            })
            .ToList();
    }

    private async Task<AdminResult> ListProvidersAsync(HttpContext http)
    {
        var providers = await LoadProvidersAsync(http.RequestAborted).ConfigureAwait(false);
        return AdminResult.Ok(new ItemsBody<ProviderBody>(providers.Select(ProviderBodyOf).ToList()), AdminJson.Default.ItemsBodyProviderBody);
    }

    private async Task<AdminResult> GetProviderAsync(HttpContext http)
    {
        var name = AdminRequest.Route(http, "name");
        var providers = await LoadProvidersAsync(http.RequestAborted).ConfigureAwait(false);
        return providers.FirstOrDefault(p => p.Name == name) is { } provider
            ? AdminResult.Ok(ProviderBodyOf(provider), AdminJson.Default.ProviderBody)
            : AdminResult.NotFound("LLM provider", name);
    }

    private async Task<AdminResult> WriteProviderAsync(HttpContext http, Caller caller, string? existingName)
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
        AdminRequest.UnknownKeys(body, "$", s_providerKeys, errors);
        string? name;
        if (existingName is null)
        {
            name = AdminRequest.RequiredString(body, "name", errors);
            if (name is not null && !ConfigReader.IsName(name))
            {
                errors.Add(new FieldError("$.name", "a provider name must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'"));
            }
        }
        else
        {
            name = existingName;
            if (AdminRequest.OptionalString(body, "name", errors) is { } given && given != existingName)
            {
                errors.Add(new FieldError("$.name", $"a provider cannot be renamed; expected '{existingName}' or no name"));
            }
        }

        var kind = AdminRequest.RequiredString(body, "kind", errors);
        if (kind is not null && LlmProviderKinds.Parse(kind) is null)
        {
            errors.Add(new FieldError("$.kind", $"expected one of openai, anthropic, gemini, got '{kind}'"));
            kind = null;
        }

        var baseUrl = AdminRequest.OptionalString(body, "baseUrl", errors);
        if (
            baseUrl is not null
            && !(
                Uri.TryCreate(baseUrl, UriKind.Absolute, out var uri)
                && uri.Scheme is "http" or "https"
                && uri.Host.Length > 0
                && uri.Query.Length == 0
                && uri.Fragment.Length == 0
            )
        )
        {
            errors.Add(new FieldError("$.baseUrl", $"expected an absolute http(s) URL without query or fragment, got '{baseUrl}'"));
        }

        using (var settings = JsonDocument.Parse(ProviderSettingsJson(body, [])))
        using (var fields = AdminRequest.Without(settings.RootElement, "keyOrder"))
        {
            var reader = new ConfigReader("api", GetEnv);
            reader.ReadLlmSettingsResource(fields.RootElement, "$");
            errors.AddRange(reader.PathErrors.Select(e => new FieldError(e.Path, e.Message)));
        }

        var apiKeys = ReadApiKeys(body, errors);
        if (apiKeys is { Count: > 0 } && Store.Secrets is null)
        {
            errors.Add(
                new FieldError(
                    "$.apiKeys",
                    "API keys are stored encrypted and the gateway has no ARCHESTRA_SECRET_KEY: set it to 32 random bytes, base64 or hex "
                        + "(`openssl rand -base64 32`), restart the gateway, and send the keys again"
                )
            );
        }

        if (errors.Count > 0 || name is null || kind is null)
        {
            return AdminResult.Invalid(errors);
        }

        await _changing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var providers = await LoadProvidersAsync(ct).ConfigureAwait(false);
            var current = providers.FirstOrDefault(p => p.Name == name);
            if (existingName is null && File.LlmProviders.Any(p => p.Name == name))
            {
                return AdminResult.Conflict($"the name '{name}' is taken by an LLM provider managed by the configuration file");
            }

            if (existingName is null && current is not null)
            {
                return AdminResult.Conflict($"an LLM provider named '{name}' already exists");
            }

            if (existingName is not null && current is null)
            {
                return File.LlmProviders.Any(p => p.Name == name) ? AdminResult.FileManaged("LLM provider", name) : AdminResult.NotFound("LLM provider", name);
            }

            var now = AuditTime.Truncate(DateTime.UtcNow);
            var id = current?.Id ?? Guid.CreateVersion7();
            var keys = apiKeys is null ? current?.Keys ?? [] : apiKeys.Select(k => new ApiProviderKey(k.Name, now)).ToList();
            var settingsJson = ProviderSettingsJson(body, keys.Select(k => k.Name));
            var row = new ApiProvider(id, name, kind, baseUrl ?? DefaultBaseUrl(kind), current?.CreatedAt ?? now, now, keys, settingsJson);

            // The proxy's view: the new keys as sent, or the stored ones unsealed.
            var state = await AdminResources.LoadAsync(Store, ct).ConfigureAwait(false);
            var stored = state.LlmProviders.FirstOrDefault(p => p.Name == name);
            var proxyKeys = apiKeys is null ? stored?.Keys ?? [] : apiKeys.Select(k => new LlmProviderKey(k.Name, k.Key)).ToList();
            var candidate = state with
            {
                LlmProviders =
                [
                    .. state.LlmProviders.Where(p => p.Name != name),
                    new ApiLlmProvider(id, name, kind, row.BaseUrl, settingsJson, proxyKeys, apiKeys is null ? stored?.KeyError : null),
                ],
            };
            return await CommitAsync(
                    caller,
                    current is null ? "create" : "update",
                    "llm-provider",
                    name,
                    candidate,
                    async tx =>
                    {
                        var stored = row.ToRow();
                        await (
                            current is null ? Store.LlmProviders.InsertAsync(tx, stored, ct) : Store.LlmProviders.UpdateAsync(tx, stored, ct)
                        ).ConfigureAwait(false);
                        if (apiKeys is not null)
                        {
                            await Store.LlmProviders.ReplaceKeysAsync(tx, id, apiKeys, ManagedBy.Api, ct).ConfigureAwait(false);
                        }
                    },
                    w =>
                    {
                        // Never the keys: the change log is readable by every admin key.
                        w.WriteStartObject();
                        w.WriteString("kind"u8, kind);
                        w.WriteString("baseUrl"u8, row.BaseUrl);
                        w.WriteStartArray("apiKeys"u8);
                        foreach (var key in keys)
                        {
                            w.WriteStringValue(key.Name);
                        }

                        w.WriteEndArray();
                        w.WriteEndObject();
                    },
                    _ =>
                        current is null
                            ? AdminResult.Created(ProviderBodyOf(row), AdminJson.Default.ProviderBody)
                            : AdminResult.Ok(ProviderBodyOf(row), AdminJson.Default.ProviderBody),
                    ct
                )
                .ConfigureAwait(false);
        }
        finally
        {
            _changing.Release();
        }
    }

    /// <summary>The provider's settings column: its key order and the timeout and resilience fields of the body.</summary>
    private static string ProviderSettingsJson(JsonElement body, IEnumerable<string> keyOrder) =>
        StoredJson.Write(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("keyOrder"u8);
            foreach (var name in keyOrder)
            {
                w.WriteStringValue(name);
            }

            w.WriteEndArray();
            foreach (var property in body.EnumerateObject())
            {
                if (Array.IndexOf(s_providerSettingKeys, property.Name) >= 0)
                {
                    property.WriteTo(w);
                }
            }

            w.WriteEndObject();
        });

    /// <summary>apiKeys: null when absent; otherwise the (name, key) pairs, names unique.</summary>
    private static List<(string Name, string Key)>? ReadApiKeys(JsonElement body, List<FieldError> errors)
    {
        if (!body.TryGetProperty("apiKeys", out var array) || array.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (array.ValueKind != JsonValueKind.Array)
        {
            errors.Add(new FieldError("$.apiKeys", $"expected an array of {{\"name\", \"key\"}}, got {AdminRequest.Kind(array)}"));
            return null;
        }

        var result = new List<(string, string)>();
        var index = 0;
        foreach (var item in array.EnumerateArray())
        {
            var path = $"$.apiKeys[{index++}]";
            if (item.ValueKind != JsonValueKind.Object)
            {
                errors.Add(new FieldError(path, $"expected an object {{\"name\", \"key\"}}, got {AdminRequest.Kind(item)}"));
                continue;
            }

            var itemErrors = new List<FieldError>();
            AdminRequest.UnknownKeys(item, "$", s_providerApiKeyKeys, itemErrors);
            var keyName = AdminRequest.RequiredString(item, "name", itemErrors);
            var key = AdminRequest.RequiredString(item, "key", itemErrors);
            foreach (var e in itemErrors)
            {
                errors.Add(e with { Path = path + e.Path[1..] });
            }

            if (keyName is not null && !ConfigReader.IsName(keyName))
            {
                errors.Add(new FieldError(path + ".name", "a key name must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'"));
            }
            else if (keyName is not null && result.Any(k => k.Item1 == keyName))
            {
                errors.Add(new FieldError(path + ".name", $"the key name '{keyName}' appears twice"));
            }

            if (keyName is not null && key is not null)
            {
                result.Add((keyName, key));
            }
        }

        return result;
    }

    private async Task<AdminResult> DeleteProviderAsync(HttpContext http, Caller caller)
    {
        var ct = http.RequestAborted;
        var name = AdminRequest.Route(http, "name");
        await _changing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var providers = await LoadProvidersAsync(ct).ConfigureAwait(false);
            if (providers.FirstOrDefault(p => p.Name == name) is not { } current)
            {
                return AdminResult.NotFound("LLM provider", name);
            }

            var state = await AdminResources.LoadAsync(Store, ct).ConfigureAwait(false);
            var candidate = state with { LlmProviders = [.. state.LlmProviders.Where(p => p.Name != name)] };
            return await CommitAsync(
                    caller,
                    "delete",
                    "llm-provider",
                    name,
                    candidate,
                    tx => Store.LlmProviders.DeleteAsync(tx, current.ToRow(), ct),
                    NoDetails,
                    _ => AdminResult.NoContent,
                    ct
                )
                .ConfigureAwait(false);
        }
        finally
        {
            _changing.Release();
        }
    }

    private static ProviderBody ProviderBodyOf(ApiProvider provider) =>
        new(
            provider.Name,
            provider.Kind,
            provider.BaseUrl,
            provider.Keys.Select(static k => new ProviderKeyBody(k.Name, HasKey: true, k.UpdatedAt)).ToList(),
            "api",
            provider.CreatedAt,
            provider.UpdatedAt
        );
}
