using System.Globalization;
using System.Text.Json;

namespace Archestra.Gateway.Configuration;

/// <summary>The LLM proxy's part of the file: <c>llmProviders</c> and each profile's <c>llm</c> section.</summary>
internal sealed partial class ConfigReader
{
    private static readonly string[] s_llmProviderKeys =
    [
        "kind",
        "baseUrl",
        "apiKey",
        "apiKeys",
        "timeoutSeconds",
        "connectTimeoutSeconds",
        "retries",
        "maxRetryAfterSeconds",
        "circuitBreaker",
    ];
    private static readonly string[] s_llmSettingKeys = ["timeoutSeconds", "connectTimeoutSeconds", "retries", "maxRetryAfterSeconds", "circuitBreaker"];
    private static readonly string[] s_circuitBreakerKeys = ["failureRatio", "minimumThroughput", "samplingSeconds", "breakSeconds"];
    private static readonly string[] s_profileLlmKeys = ["openai", "anthropic", "gemini", "virtualKeys", "passThrough", "toolGuard", "dualLlm", "toon"];
    private static readonly string[] s_dualLlmKeys = ["provider", "model", "mainModel", "maxRounds"];

    /// <summary>Providers read so far, for the profiles' references (read after <c>llmProviders</c>).</summary>
    private readonly List<LlmProviderConfig> _llmProviders = [];
    private readonly List<string> _declaredLlmProviders = [];

    private List<LlmProviderConfig> ReadLlmProviders(JsonElement element, string path)
    {
        if (!ExpectObject(element, path))
        {
            return _llmProviders;
        }

        foreach (var property in UniqueProperties(element, path, StringComparer.Ordinal))
        {
            var providerPath = Child(path, property.Name);
            _declaredLlmProviders.Add(property.Name);
            var nameOk = CheckName(property.Name, providerPath, "provider");
            var provider = ReadLlmProvider(property.Name, property.Value, providerPath);
            if (nameOk && provider is not null)
            {
                _llmProviders.Add(provider);
            }
        }

        return _llmProviders;
    }

    private LlmProviderConfig? ReadLlmProvider(string name, JsonElement element, string path)
    {
        if (!ExpectObject(element, path))
        {
            return null;
        }

        var errorsBefore = _errors.Count;
        LlmProviderKind? kind = null;
        Uri? baseUrl = null;
        var keys = new List<LlmProviderKey>();
        string? keyPath = null;
        var settings = new LlmSettings();
        foreach (var property in KnownProperties(element, path, s_llmProviderKeys))
        {
            var itemPath = Child(path, property.Name);
            switch (property.Name)
            {
                case "kind":
                    kind = LlmProviderKinds.Parse(ReadChoice(property.Value, itemPath, "openai", "anthropic", "gemini"));
                    break;
                case "baseUrl":
                    if (TryReadString(property.Value, itemPath, out var urlText))
                    {
                        if (
                            Uri.TryCreate(urlText.Value.TrimEnd('/'), UriKind.Absolute, out var parsed)
                            && (parsed.Scheme == Uri.UriSchemeHttp || parsed.Scheme == Uri.UriSchemeHttps)
                            && parsed.Host.Length > 0
                            && parsed.Query.Length == 0
                            && parsed.Fragment.Length == 0
                        )
                        {
                            baseUrl = parsed;
                        }
                        else
                        {
                            Error(
                                itemPath,
                                $"expected an absolute http:// or https:// URL without query, such as https://api.openai.com/v1, got {urlText.Shown}"
                            );
                        }
                    }

                    break;
                case "apiKey" or "apiKeys":
                    if (keyPath is not null)
                    {
                        Error(itemPath, "give either apiKey or apiKeys, not both");
                        break;
                    }

                    keyPath = itemPath;
                    if (property.Name == "apiKey")
                    {
                        ReadProviderKey(property.Value, itemPath, keys);
                    }
                    else if (property.Value.ValueKind != JsonValueKind.Array || property.Value.GetArrayLength() == 0)
                    {
                        ExpectedKind(itemPath, "a non-empty array of env:NAME references, in fallback order", property.Value);
                    }
                    else
                    {
                        var index = 0;
                        foreach (var item in property.Value.EnumerateArray())
                        {
                            ReadProviderKey(item, Index(itemPath, index++), keys);
                        }
                    }

                    break;
                default:
                    ReadLlmSetting(property, itemPath, ref settings);
                    break;
            }
        }

        if (kind is null && _errors.Count == errorsBefore)
        {
            Error(path, "expected kind: \"openai\", \"anthropic\" or \"gemini\"");
        }

        if (_errors.Count != errorsBefore || kind is not { } k)
        {
            return null;
        }

        return new LlmProviderConfig
        {
            Name = name,
            Kind = k,
            BaseUrl = baseUrl ?? LlmProviderConfig.DefaultBaseUrl(k),
            Keys = keys,
            Timeout = settings.Timeout,
            Resilience = settings.Resilience,
        };
    }

    /// <summary>A provider's timeout and resilience fields as they stand in the file; also what the admin API keeps in a provider's settings.</summary>
    internal struct LlmSettings()
    {
        public TimeSpan Timeout = TimeSpan.FromSeconds(600);
        public LlmResilienceConfig Resilience = new();
    }

    /// <summary>The admin API's provider settings object: only the keys of <see cref="s_llmSettingKeys"/>.</summary>
    public LlmSettings ReadLlmSettingsResource(JsonElement element, string path)
    {
        var settings = new LlmSettings();
        if (ExpectObject(element, path))
        {
            foreach (var property in KnownProperties(element, path, s_llmSettingKeys))
            {
                ReadLlmSetting(property, Child(path, property.Name), ref settings);
            }
        }

        return settings;
    }

    private void ReadLlmSetting(JsonProperty property, string itemPath, ref LlmSettings settings)
    {
        var r = settings.Resilience;
        var value = property.Value;
        settings.Resilience = property.Name switch
        {
            "connectTimeoutSeconds" => Whole(value, itemPath, 1, 600) is { } connect ? r with { ConnectTimeout = TimeSpan.FromSeconds(connect) } : r,
            "retries" => Whole(value, itemPath, 0, 10) is { } retries ? r with { Retries = (int)retries } : r,
            "maxRetryAfterSeconds" => Whole(value, itemPath, 0, 3600) is { } wait ? r with { MaxRetryAfter = TimeSpan.FromSeconds(wait) } : r,
            "circuitBreaker" => ExpectObject(value, itemPath) ? ReadCircuitBreaker(value, itemPath, r) : r,
            _ => r,
        };
        if (property.Name == "timeoutSeconds" && Whole(value, itemPath, 1, 86_400) is { } timeout)
        {
            settings.Timeout = TimeSpan.FromSeconds(timeout);
        }
    }

    private LlmResilienceConfig ReadCircuitBreaker(JsonElement element, string path, LlmResilienceConfig r)
    {
        foreach (var property in KnownProperties(element, path, s_circuitBreakerKeys))
        {
            var itemPath = Child(path, property.Name);
            var value = property.Value;
            r = property.Name switch
            {
                "failureRatio" => Ratio(value, itemPath) is { } ratio ? r with { FailureRatio = ratio } : r,

                // Polly's circuit breaker needs at least 2 attempts in the window.
                "minimumThroughput" => Whole(value, itemPath, 2, 1_000_000) is { } throughput ? r with { MinimumThroughput = (int)throughput } : r,
                "samplingSeconds" => Whole(value, itemPath, 1, 86_400) is { } sampling ? r with { SamplingDuration = TimeSpan.FromSeconds(sampling) } : r,
                _ => Whole(value, itemPath, 1, 86_400) is { } pause ? r with { BreakDuration = TimeSpan.FromSeconds(pause) } : r,
            };
        }

        return r;
    }

    private long? Whole(JsonElement element, string path, long min, long max) => TryReadInteger(element, path, min, max, out var n) ? n : null;

    private double? Ratio(JsonElement element, string path)
    {
        if (!TryReadNumber(element, path, out var ratio))
        {
            return null;
        }

        if (ratio is > 0 and <= 1)
        {
            return ratio;
        }

        Error(path, $"expected a share of failed attempts above 0 and at most 1 (0.5 is half), got {ratio.ToString(CultureInfo.InvariantCulture)}");
        return null;
    }

    /// <summary>One <c>env:NAME</c> provider key; the variable's name labels the key in logs and metrics.</summary>
    private void ReadProviderKey(JsonElement element, string path, List<LlmProviderKey> keys)
    {
        if (element.ValueKind == JsonValueKind.String && !element.GetString()!.StartsWith(EnvPrefix, StringComparison.Ordinal))
        {
            Error(path, "secrets are never written inline: use env:NAME");
        }
        else if (TryReadString(element, path, out var key))
        {
            if (key.Value.Length == 0 || key.Value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
            {
                Error(path, $"the value of {key.EnvName} must be a non-empty key without CR, LF or NUL");
            }
            else if (keys.Exists(k => k.Name == key.EnvName))
            {
                Error(path, $"{key.EnvName} is already in the list");
            }
            else
            {
                keys.Add(new LlmProviderKey(key.EnvName ?? "key", key.Value));
            }
        }
    }

    private ProfileLlmConfig? ReadProfileLlm(JsonElement element, string path)
    {
        if (!ExpectObject(element, path))
        {
            return null;
        }

        var errorsBefore = _errors.Count;
        var config = new ProfileLlmConfig();
        string? keysPath = null;
        var named = false;
        var hashes = new List<byte[]>();
        foreach (var property in KnownProperties(element, path, s_profileLlmKeys))
        {
            var itemPath = Child(path, property.Name);
            switch (property.Name)
            {
                case "openai":
                    named = true;
                    config = config with { OpenAi = ReadProviderReference(property.Value, itemPath, LlmProviderKind.OpenAi) };
                    break;
                case "anthropic":
                    named = true;
                    config = config with { Anthropic = ReadProviderReference(property.Value, itemPath, LlmProviderKind.Anthropic) };
                    break;
                case "gemini":
                    named = true;
                    config = config with { Gemini = ReadProviderReference(property.Value, itemPath, LlmProviderKind.Gemini) };
                    break;
                case "virtualKeys":
                    keysPath = itemPath;
                    ReadTokens(property.Value, itemPath, hashes);
                    break;
                case "passThrough":
                    config = config with { PassThrough = ReadBoolean(property.Value, itemPath, config.PassThrough) };
                    break;
                case "toolGuard":
                    config = config with { ToolGuard = ReadBoolean(property.Value, itemPath, config.ToolGuard) };
                    break;
                case "toon":
                    config = config with { Toon = ReadBoolean(property.Value, itemPath, config.Toon) };
                    break;
                case "dualLlm":
                    config = config with { DualLlm = ReadDualLlm(property.Value, itemPath) };
                    break;
            }
        }

        if (config.PassThrough && keysPath is not null)
        {
            Error(keysPath, "virtualKeys and passThrough: true exclude each other: with pass-through the client's own provider key is forwarded");
        }

        if (!named)
        {
            Error(path, "expected at least one of openai, anthropic or gemini: the name of an entry in $.llmProviders");
        }

        if (_errors.Count == errorsBefore && !config.PassThrough)
        {
            foreach (var (key, provider) in new[] { ("openai", config.OpenAi), ("anthropic", config.Anthropic), ("gemini", config.Gemini) })
            {
                if (provider is not null && _llmProviders.Find(p => p.Name == provider) is { ApiKey: null })
                {
                    Error(Child(path, key), $"provider '{provider}' has no apiKey; give it one (env:NAME) or set passThrough: true");
                }
            }
        }

        return _errors.Count == errorsBefore ? config with { VirtualKeyHashes = hashes } : null;
    }

    /// <summary>A boolean, or (with an error) <paramref name="fallback"/>.</summary>
    private bool ReadBoolean(JsonElement element, string path, bool fallback)
    {
        if (element.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            return element.GetBoolean();
        }

        ExpectedKind(path, "a boolean", element);
        return fallback;
    }

    /// <summary>The provider named <paramref name="name"/>, or null (with an error unless it is declared with errors of its own).</summary>
    private LlmProviderConfig? FindProvider(Text name, string path)
    {
        var provider = _llmProviders.Find(p => p.Name == name.Value);
        if (provider is null && !_declaredLlmProviders.Contains(name.Value))
        {
            // A provider with its own errors is declared but not read: report only those errors.
            Error(
                path,
                _declaredLlmProviders.Count == 0
                    ? $"unknown provider {name.Shown}; no providers are configured in $.llmProviders"
                    : $"unknown provider {name.Shown}; expected one of: {string.Join(", ", _declaredLlmProviders)}"
            );
        }

        return provider;
    }

    private DualLlmConfig? ReadDualLlm(JsonElement element, string path)
    {
        if (!ExpectObject(element, path))
        {
            return null;
        }

        var errorsBefore = _errors.Count;
        string? provider = null,
            model = null,
            mainModel = null;
        var maxRounds = 3;
        foreach (var property in KnownProperties(element, path, s_dualLlmKeys))
        {
            var itemPath = Child(path, property.Name);
            switch (property.Name)
            {
                case "provider":
                    if (TryReadString(property.Value, itemPath, out var name))
                    {
                        var found = FindProvider(name, itemPath);
                        if (found is { ApiKey: null })
                        {
                            Error(itemPath, $"provider '{found.Name}' has no apiKey; the quarantined model is called with the provider's own key (env:NAME)");
                        }

                        provider = name.Value;
                    }

                    break;
                case "model":
                    model = ReadModelName(property.Value, itemPath);
                    break;
                case "mainModel":
                    mainModel = ReadModelName(property.Value, itemPath);
                    break;
                case "maxRounds":
                    if (TryReadInteger(property.Value, itemPath, 1, 5, out var rounds))
                    {
                        maxRounds = (int)rounds;
                    }

                    break;
            }
        }

        if (_errors.Count == errorsBefore && (provider is null || model is null))
        {
            Error(path, "expected provider (an entry in $.llmProviders) and model: the quarantined model that reads sanitize_with_dual_llm results");
        }

        return _errors.Count == errorsBefore
            ? new DualLlmConfig
            {
                Provider = provider!,
                Model = model!,
                MainModel = mainModel,
                MaxRounds = maxRounds,
            }
            : null;
    }

    private string? ReadModelName(JsonElement element, string path)
    {
        if (!TryReadString(element, path, out var text))
        {
            return null;
        }

        if (text.Value.Length is 0 or > 256)
        {
            Error(path, $"expected a model name (1 to 256 characters), got {text.Shown}");
            return null;
        }

        return text.Value;
    }

    private string? ReadProviderReference(JsonElement element, string path, LlmProviderKind expected)
    {
        if (!TryReadString(element, path, out var text))
        {
            return null;
        }

        var provider = FindProvider(text, path);
        if (provider is null)
        {
            return null;
        }

        if (provider.Kind != expected)
        {
            Error(
                path,
                $"provider '{provider.Name}' is of kind {LlmProviderKinds.Name(provider.Kind)}; this endpoint needs kind {LlmProviderKinds.Name(expected)}"
            );
            return null;
        }

        return provider.Name;
    }
}
