using System.Net;
using Archestra.Gateway.Configuration;
using Archestra.Storage;
using Polly;

namespace Archestra.Gateway.Llm;

/// <summary>
/// One provider: its pooled connections (one <see cref="SocketsHttpHandler"/> behind an
/// <see cref="HttpMessageInvoker"/>, which unlike HttpClient never buffers a response) and its key.
/// </summary>
internal sealed class LlmUpstream : IDisposable
{
    private readonly LlmUpstreamKey[] _clientKey;

    public LlmUpstream(LlmProviderConfig config, LlmResilienceMetrics metrics, ILogger logger)
    {
        Config = config;
        Metrics = metrics;
        var resilience = config.Resilience;
        Keys = [.. config.Keys.Select(k => new LlmUpstreamKey(config.Name, k.Name, k.Value, resilience, metrics, logger))];
        _clientKey = [new LlmUpstreamKey(config.Name, "client", null, resilience, metrics, logger)];
        Retry = LlmResilience.BuildRetry(config.Name, resilience, metrics, logger);
        BaseUrl = config.BaseUrl.AbsoluteUri.TrimEnd('/');
        Invoker = new HttpMessageInvoker(
            new SocketsHttpHandler
            {
                // The proxy reads usage from the bytes, so it asks for identity encoding and never decompresses.
                AutomaticDecompression = DecompressionMethods.None,
                AllowAutoRedirect = false,
                UseCookies = false,
                // DNS changes of the provider (failover) are picked up within this time; matches YARP's default.
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                ConnectTimeout = resilience.ConnectTimeout,
                EnableMultipleHttp2Connections = true,
            },
            disposeHandler: true
        );
    }

    public LlmProviderConfig Config { get; }

    public string Name => Config.Name;

    public LlmProviderKind Kind => Config.Kind;

    /// <summary>The base URL without a trailing slash; the client's path after its base URL is appended.</summary>
    public string BaseUrl { get; }

    public HttpMessageInvoker Invoker { get; }

    public LlmResilienceMetrics Metrics { get; }

    /// <summary>The provider's keys in fallback order, each with its circuit breaker.</summary>
    public LlmUpstreamKey[] Keys { get; }

    /// <summary>Repeats a failed attempt (connect failure, 429, 5xx) before anything reached the client.</summary>
    public ResiliencePipeline<HttpResponseMessage> Retry { get; }

    /// <summary>Pass-through profiles send the client's key, which has no fallback: one circuit for all their clients.</summary>
    public LlmUpstreamKey[] KeysFor(bool passThrough) => passThrough || Keys.Length == 0 ? _clientKey : Keys;

    /// <summary>Every circuit of the provider, for the <c>llm_circuit_open</c> gauge.</summary>
    public IEnumerable<LlmUpstreamKey> AllKeys => Keys.Concat(_clientKey);

    public void Dispose() => Invoker.Dispose();
}

/// <summary>A profile's LLM side: the upstream for each API and who may call it.</summary>
internal sealed class LlmProfile
{
    private readonly byte[][] _keyHashes;

    public LlmProfile(string name, ProfileLlmConfig config, LlmUpstream? openAi, LlmUpstream? anthropic, LlmUpstream? gemini = null)
    {
        Name = name;
        Config = config;
        OpenAi = openAi;
        Anthropic = anthropic;
        Gemini = gemini;
        PassThrough = config.PassThrough;
        ToolGuard = config.ToolGuard;
        _keyHashes = [.. config.VirtualKeyHashes];
    }

    /// <summary>The profile's tool selection, applied to the tool calls the guard decides; null: every tool is exposed.</summary>
    public ProfileToolSelection? ToolSelection { get; init; }

    public string Name { get; }

    public ProfileLlmConfig Config { get; }

    public LlmUpstream? OpenAi { get; }

    public LlmUpstream? Anthropic { get; }

    public LlmUpstream? Gemini { get; }

    public bool PassThrough { get; }

    /// <summary>Tool calls in answers are evaluated (<see cref="ProfileLlmConfig.ToolGuard"/>).</summary>
    public bool ToolGuard { get; }

    /// <summary>Neither virtual keys nor pass-through: anyone who reaches the port spends the provider key.</summary>
    public bool Open => _keyHashes.Length == 0 && !PassThrough;

    public LlmUpstream? For(LlmProviderKind kind) =>
        kind switch
        {
            LlmProviderKind.OpenAi => OpenAi,
            LlmProviderKind.Anthropic => Anthropic,
            _ => Gemini,
        };

    /// <summary>The profile's provider named <paramref name="name"/> (the unified endpoint's <c>provider/model</c>); null when none is.</summary>
    public LlmUpstream? Provider(ReadOnlySpan<char> name) =>
        OpenAi is { } o && name.SequenceEqual(o.Name) ? o
        : Anthropic is { } a && name.SequenceEqual(a.Name) ? a
        : Gemini is { } g && name.SequenceEqual(g.Name) ? g
        : null;

    /// <summary>Checks a virtual key in constant time (<see cref="SecretHash.MatchesAny"/>).</summary>
    public bool AcceptsKey(ReadOnlySpan<char> key) => SecretHash.MatchesAny(key, _keyHashes);
}
