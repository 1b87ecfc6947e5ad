namespace Archestra.Gateway.Configuration;

/// <summary>Which wire protocol an LLM provider speaks.</summary>
public enum LlmProviderKind
{
    /// <summary>The OpenAI REST API (and every server that copies it: vLLM, Ollama, LiteLLM, ...).</summary>
    OpenAi,

    /// <summary>The Anthropic Messages API.</summary>
    Anthropic,
}

/// <summary>One upstream LLM provider from <c>llmProviders</c>.</summary>
public sealed record LlmProviderConfig
{
    public required string Name { get; init; }

    public required LlmProviderKind Kind { get; init; }

    /// <summary>
    /// The provider's base URL as its own SDK takes it: OpenAI-style URLs end in <c>/v1</c>
    /// (requests go to <c>{baseUrl}/chat/completions</c>), Anthropic's do not (<c>{baseUrl}/v1/messages</c>).
    /// </summary>
    public required Uri BaseUrl { get; init; }

    /// <summary>The provider key (resolved from <c>env:NAME</c>); null when only pass-through profiles use it.</summary>
    public string? ApiKey { get; init; }

    /// <summary>
    /// Whole-request timeout, headers and body. 600 s is the OpenAI and Anthropic SDKs' own default request
    /// timeout, so the proxy never gives up on a long generation before the SDK would.
    /// </summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(600);

    public static Uri DefaultBaseUrl(LlmProviderKind kind) => kind == LlmProviderKind.OpenAi
        ? new Uri("https://api.openai.com/v1")
        : new Uri("https://api.anthropic.com");
}

/// <summary>A profile's <c>llm</c> section: which provider serves each API and who may call it.</summary>
public sealed record ProfileLlmConfig
{
    /// <summary>The <c>llmProviders</c> entry behind <c>/v1/openai/{profile}</c>; null: that API is not offered.</summary>
    public string? OpenAi { get; init; }

    /// <summary>The <c>llmProviders</c> entry behind <c>/v1/anthropic/{profile}</c>; null: not offered.</summary>
    public string? Anthropic { get; init; }

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
