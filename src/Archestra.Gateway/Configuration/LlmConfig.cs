namespace Archestra.Gateway.Configuration;

/// <summary>Which wire protocol an LLM provider speaks.</summary>
public enum LlmProviderKind
{
    /// <summary>The OpenAI REST API (and every server that copies it: vLLM, Ollama, LiteLLM, ...).</summary>
    OpenAi,

    /// <summary>The Anthropic Messages API.</summary>
    Anthropic,

    /// <summary>The Gemini API (Generative Language API: <c>models/{model}:generateContent</c>).</summary>
    Gemini,
}

/// <summary>The names of the provider kinds in configuration and messages.</summary>
public static class LlmProviderKinds
{
    public static string Name(LlmProviderKind kind) =>
        kind switch
        {
            LlmProviderKind.Anthropic => "anthropic",
            LlmProviderKind.Gemini => "gemini",
            _ => "openai",
        };

    /// <summary>The kind named <paramref name="name"/> (<c>openai</c>, <c>anthropic</c>, <c>gemini</c>); null for any other name.</summary>
    public static LlmProviderKind? Parse(string? name) =>
        name switch
        {
            "openai" => LlmProviderKind.OpenAi,
            "anthropic" => LlmProviderKind.Anthropic,
            "gemini" => LlmProviderKind.Gemini,
            _ => null,
        };
}

/// <summary>One upstream LLM provider from <c>llmProviders</c>.</summary>
public sealed record LlmProviderConfig
{
    public required string Name { get; init; }

    public required LlmProviderKind Kind { get; init; }

    /// <summary>
    /// The provider's base URL as its own SDK takes it: OpenAI-style URLs end in <c>/v1</c>
    /// (requests go to <c>{baseUrl}/chat/completions</c>), Anthropic's and Gemini's do not (<c>{baseUrl}/v1/messages</c>,
    /// <c>{baseUrl}/v1beta/models/{model}:generateContent</c>).
    /// </summary>
    public required Uri BaseUrl { get; init; }

    /// <summary>
    /// The provider keys in fallback order (resolved from <c>env:NAME</c>, or unsealed from the database); empty when
    /// only pass-through profiles use the provider.
    /// </summary>
    public IReadOnlyList<LlmProviderKey> Keys { get; init; } = [];

    /// <summary>The first key; setting it makes it the only one (named <c>key</c>).</summary>
    public string? ApiKey
    {
        get => Keys.Count > 0 ? Keys[0].Value : null;
        init => Keys = value is null ? [] : [new LlmProviderKey("key", value)];
    }

    /// <summary>Connect timeout, retries and circuit breaker (see <see cref="LlmResilienceConfig"/>).</summary>
    public LlmResilienceConfig Resilience { get; init; } = new();

    /// <summary>
    /// Whole-request timeout, headers and body. 600 s is the OpenAI and Anthropic SDKs' own default request
    /// timeout, so the proxy never gives up on a long generation before the SDK would.
    /// </summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(600);

    // The SDKs' defaults: openai-dotnet, anthropic-sdk, and @google/genai's Gemini API (not Vertex AI).
    public static Uri DefaultBaseUrl(LlmProviderKind kind) =>
        kind switch
        {
            LlmProviderKind.Anthropic => new Uri("https://api.anthropic.com"),
            LlmProviderKind.Gemini => new Uri("https://generativelanguage.googleapis.com"),
            _ => new Uri("https://api.openai.com/v1"),
        };

    // The keys are compared by content, so a reload that leaves a provider as it was keeps its connections and circuits.
    public bool Equals(LlmProviderConfig? other) =>
        other is not null
        && Name == other.Name
        && Kind == other.Kind
        && BaseUrl == other.BaseUrl
        && Timeout == other.Timeout
        && Resilience == other.Resilience
        && Keys.SequenceEqual(other.Keys);

    public override int GetHashCode() => HashCode.Combine(Name, Kind, BaseUrl, Timeout, Resilience, Keys.Count);
}

/// <summary>One provider key: <paramref name="Name"/> (the env variable's name, or the admin API's key name) labels it in logs and metrics.</summary>
public sealed record LlmProviderKey(string Name, string Value)
{
    // Never the key itself in a log line or exception message.
    public override string ToString() => Name;
}

/// <summary>How the proxy copes with a failing provider: every field has a default, documented in docs/configuration.md.</summary>
public sealed record LlmResilienceConfig
{
    /// <summary>10 s: the time to open a TCP (and TLS) connection; a reachable provider needs well under a second.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Further attempts after a connect failure, 429 or 5xx, while nothing was sent to the client: 2, as the OpenAI and Anthropic SDKs
    /// retry.
    /// </summary>
    public int Retries { get; init; } = 2;

    /// <summary>The first backoff; it doubles with jitter up to 8 s (the SDKs' own: 0.5 s doubling to 8 s).</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(0.5);

    /// <summary>A Retry-After up to this long is waited out; a longer one is relayed to the client at once.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The share of failed attempts (connect failures, 5xx) within <see cref="SamplingDuration"/> that opens a key's circuit.</summary>
    public double FailureRatio { get; init; } = 0.5;

    /// <summary>Attempts needed in the window before the ratio counts, so one failure on a quiet provider opens nothing.</summary>
    public int MinimumThroughput { get; init; } = 10;

    public TimeSpan SamplingDuration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an open circuit refuses before one probe request is let through.</summary>
    public TimeSpan BreakDuration { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>A profile's <c>llm</c> section: which provider serves each API and who may call it.</summary>
public sealed record ProfileLlmConfig
{
    /// <summary>The <c>llmProviders</c> entry behind <c>/v1/openai/{profile}</c>; null: that API is not offered.</summary>
    public string? OpenAi { get; init; }

    /// <summary>The <c>llmProviders</c> entry behind <c>/v1/anthropic/{profile}</c>; null: not offered.</summary>
    public string? Anthropic { get; init; }

    /// <summary>The <c>llmProviders</c> entry behind <c>/v1/gemini/{profile}</c>; null: not offered.</summary>
    public string? Gemini { get; init; }

    /// <summary>SHA-256 hashes of the virtual keys SDKs send as their API key. Empty and not pass-through: open.</summary>
    public IReadOnlyList<byte[]> VirtualKeyHashes { get; init; } = [];

    /// <summary>Forward the client's own provider key unchanged instead of checking a virtual key.</summary>
    public bool PassThrough { get; init; }

    /// <summary>
    /// Evaluate the tool calls in answers with the profile's tool-invocation policies, in the trust of the
    /// request's conversation, and replace refused ones with text. On by default: the same policies guard the MCP path.
    /// </summary>
    public bool ToolGuard { get; init; } = true;

    /// <summary>The quarantine for tool results a policy marks <c>sanitize_with_dual_llm</c>; null: they count as untrusted.</summary>
    public DualLlmConfig? DualLlm { get; init; }

    /// <summary>Tool results whose text is a JSON object or array go upstream as TOON when that is shorter.</summary>
    public bool Toon { get; init; }
}

/// <summary>A profile's <c>llm.dualLlm</c>: who asks the questions and who reads the raw result (README, "Dual LLM").</summary>
public sealed record DualLlmConfig
{
    /// <summary>The <c>llmProviders</c> entry of the quarantined model (the one that reads the raw result).</summary>
    public required string Provider { get; init; }

    public required string Model { get; init; }

    /// <summary>The model that asks the questions, on the request's own provider; null: the request's model.</summary>
    public string? MainModel { get; init; }

    /// <summary>
    /// Questions per result. 3 lets the main model narrow down twice after a first broad question; each round
    /// costs two calls before the request can go upstream, hence the cap of 5.
    /// </summary>
    public int MaxRounds { get; init; } = 3;
}
