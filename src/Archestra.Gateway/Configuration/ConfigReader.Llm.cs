using System.Text.Json;

namespace Archestra.Gateway.Configuration;

/// <summary>The LLM proxy's part of the file: <c>llmProviders</c> and each profile's <c>llm</c> section.</summary>
internal sealed partial class ConfigReader
{
    private static readonly string[] s_llmProviderKeys = ["kind", "baseUrl", "apiKey", "timeoutSeconds"];
    private static readonly string[] s_profileLlmKeys = ["openai", "anthropic", "virtualKeys", "passThrough", "toolGuard", "dualLlm", "toon"];
    private static readonly string[] s_dualLlmKeys = ["provider", "model", "mainModel", "maxRounds"];

    /// <summary>Providers read so far, for the profiles' references (read after <c>llmProviders</c>).</summary>
    private readonly List<LlmProviderConfig> _llmProviders = [];
    private readonly List<string> _declaredLlmProviders = [];

    /// <summary>True while reading one admin API resource: the <c>llm</c> section is file-only for now.</summary>
    private bool _readingResource;

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
        string? apiKey = null;
        var timeout = TimeSpan.FromSeconds(600);
        foreach (var property in KnownProperties(element, path, s_llmProviderKeys))
        {
            var itemPath = Child(path, property.Name);
            switch (property.Name)
            {
                case "kind":
                    kind = ReadChoice(property.Value, itemPath, "openai", "anthropic") switch
                    {
                        "openai" => LlmProviderKind.OpenAi,
                        "anthropic" => LlmProviderKind.Anthropic,
                        _ => null,
                    };
                    break;
                case "baseUrl":
                    if (TryReadString(property.Value, itemPath, out var urlText))
                    {
                        if (Uri.TryCreate(urlText.Value.TrimEnd('/'), UriKind.Absolute, out var parsed)
                            && (parsed.Scheme == Uri.UriSchemeHttp || parsed.Scheme == Uri.UriSchemeHttps)
                            && parsed.Host.Length > 0 && parsed.Query.Length == 0 && parsed.Fragment.Length == 0)
                        {
                            baseUrl = parsed;
                        }
                        else
                        {
                            Error(itemPath, $"expected an absolute http:// or https:// URL without query, such as https://api.openai.com/v1, got {urlText.Shown}");
                        }
                    }

                    break;
                case "apiKey":
                    if (property.Value.ValueKind == JsonValueKind.String && !property.Value.GetString()!.StartsWith(EnvPrefix, StringComparison.Ordinal))
                    {
                        Error(itemPath, "secrets are never written inline: use env:NAME");
                    }
                    else if (TryReadString(property.Value, itemPath, out var key))
                    {
                        if (key.Value.Length == 0 || key.Value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
                        {
                            Error(itemPath, $"the value of {key.EnvName} must be a non-empty key without CR, LF or NUL");
                        }
                        else
                        {
                            apiKey = key.Value;
                        }
                    }

                    break;
                case "timeoutSeconds":
                    if (TryReadInteger(property.Value, itemPath, 1, 86_400, out var seconds))
                    {
                        timeout = TimeSpan.FromSeconds(seconds);
                    }

                    break;
            }
        }

        if (kind is null && _errors.Count == errorsBefore)
        {
            Error(path, "expected kind: \"openai\" or \"anthropic\"");
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
            ApiKey = apiKey,
            Timeout = timeout,
        };
    }

    private ProfileLlmConfig? ReadProfileLlm(JsonElement element, string path)
    {
        if (_readingResource)
        {
            Error(path, "the llm section is set in the configuration file only (not yet through the admin API)");
            return null;
        }

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
            Error(path, "expected at least one of openai or anthropic: the name of an entry in $.llmProviders");
        }

        if (_errors.Count == errorsBefore && !config.PassThrough)
        {
            foreach (var (key, provider) in new[] { ("openai", config.OpenAi), ("anthropic", config.Anthropic) })
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
            Error(path, _declaredLlmProviders.Count == 0
                ? $"unknown provider {name.Shown}; no providers are configured in $.llmProviders"
                : $"unknown provider {name.Shown}; expected one of: {string.Join(", ", _declaredLlmProviders)}");
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
        string? provider = null, model = null, mainModel = null;
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

        return _errors.Count == errorsBefore ? new DualLlmConfig { Provider = provider!, Model = model!, MainModel = mainModel, MaxRounds = maxRounds } : null;
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
            Error(path, $"provider '{provider.Name}' is of kind {(provider.Kind == LlmProviderKind.OpenAi ? "openai" : "anthropic")}; this endpoint needs kind {(expected == LlmProviderKind.OpenAi ? "openai" : "anthropic")}");
            return null;
        }

        return provider.Name;
    }
}
