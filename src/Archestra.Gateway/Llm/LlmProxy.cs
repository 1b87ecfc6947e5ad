using System.Collections.Frozen;
using System.Diagnostics;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Core;
using Archestra.Gateway.Http;
using Archestra.Gateway.Llm.Dialects;
using Archestra.Gateway.Security;
using Archestra.Storage;

namespace Archestra.Gateway.Llm;

/// <summary>What the proxy does with a path under a provider's base URL.</summary>
internal enum LlmEndpoint
{
    Unknown,

    /// <summary>Generates tokens: audited, metered, may stream (chat/completions, responses, messages).</summary>
    Generation,

    /// <summary>Forwarded as it is: model lists, count_tokens.</summary>
    Plain,

    /// <summary>OpenAI <c>POST /embeddings</c>: forwarded as it is, but audited, priced and budgeted like a generation (no stream, tools or rules).</summary>
    Embeddings,
}

/// <summary>
/// The OpenAI- and Anthropic-compatible endpoints <c>/v1/openai/{profile}/...</c> and
/// <c>/v1/anthropic/{profile}/...</c>. An SDK changes only its base URL: the path after it is appended to the
/// provider's base URL, the body goes upstream byte for byte (with at most one splice, see
/// <see cref="LlmRequestBody"/>), and the answer comes back as the provider sent it, event by event.
/// </summary>
internal sealed partial class LlmProxy : IDisposable
{
    /// <summary>
    /// How old the prices, limits and rules may get before a request triggers a reload in the background. This
    /// process reloads at once when its own admin API changes them; the interval is how long another replica's
    /// change takes to arrive here.
    /// </summary>
    internal static readonly TimeSpan CostsRefreshInterval = TimeSpan.FromSeconds(10);

    private readonly GatewayState _state;
    private readonly RequestGuard _guard;
    private readonly ILogger _logger;
    private readonly ArchestraStore? _store;
    private readonly Lock _applyLock = new();
    private readonly SemaphoreSlim _costsLoading = new(1, 1);
    private readonly LlmBudgets _budgets;
    private readonly LlmResilienceMetrics _resilienceMetrics;
    private Snapshot _snapshot = new(FrozenDictionary<string, LlmProfile>.Empty, []);
    private LlmCosts _costs = LlmCosts.Defaults;
    private long _costsLoadedAt = Stopwatch.GetTimestamp();
    private int _costsRefreshing;

    public LlmProxy(GatewayState state, RequestGuard guard, ILogger logger, ArchestraStore? store = null)
    {
        _state = state;
        _guard = guard;
        _logger = logger;
        _store = store;
        _budgets = new LlmBudgets(store, logger);
        Metrics = new LlmMetrics(state.Metrics.Meter);
        state.Metrics.AddSource(Metrics);
        _resilienceMetrics = new LlmResilienceMetrics(() => Volatile.Read(ref _snapshot).Upstreams.Values);
        state.Metrics.AddSource(_resilienceMetrics);
    }

    public LlmMetrics Metrics { get; }

    internal GatewayState State => _state;

    internal LlmBudgets Budgets => _budgets;

    internal ILogger Logger => _logger;

    private sealed record Snapshot(FrozenDictionary<string, LlmProfile> Profiles, Dictionary<string, LlmUpstream> Upstreams);

    /// <summary>Swaps in the providers and profiles of <paramref name="config"/>; unchanged providers keep their connections.</summary>
    public void Apply(GatewayConfig config)
    {
        lock (_applyLock)
        {
            var old = Volatile.Read(ref _snapshot);
            var upstreams = new Dictionary<string, LlmUpstream>(StringComparer.Ordinal);
            foreach (var provider in config.LlmProviders)
            {
                upstreams[provider.Name] =
                    old.Upstreams.TryGetValue(provider.Name, out var existing) && existing.Config == provider
                        ? existing
                        : new LlmUpstream(provider, _resilienceMetrics, _logger);
            }

            var profiles = new Dictionary<string, LlmProfile>(StringComparer.Ordinal);
            foreach (var profile in config.Profiles)
            {
                if (profile.Llm is not { } llm)
                {
                    continue;
                }

                var openAi = llm.OpenAi is { } o ? upstreams.GetValueOrDefault(o) : null;
                var anthropic = llm.Anthropic is { } a ? upstreams.GetValueOrDefault(a) : null;
                var gemini = llm.Gemini is { } g ? upstreams.GetValueOrDefault(g) : null;
                var built = new LlmProfile(profile.Name, llm, openAi, anthropic, gemini) { ToolSelection = ProfileToolSelection.Of(profile) };
                if (built.Open)
                {
                    Log.OpenLlmProfile(_logger, profile.Name);
                }

                profiles[profile.Name] = built;
            }

            Volatile.Write(ref _snapshot, new Snapshot(profiles.ToFrozenDictionary(StringComparer.Ordinal), upstreams));
            foreach (var (name, upstream) in old.Upstreams)
            {
                if (!upstreams.TryGetValue(name, out var kept) || !ReferenceEquals(kept, upstream))
                {
                    // Requests already sent on it finish first: they are bounded by the provider's timeout.
                    _ = DisposeLaterAsync(upstream);
                }
            }
        }
    }

    /// <summary>The prices, limits and rules in force.</summary>
    internal LlmCosts Costs => Volatile.Read(ref _costs);

    /// <summary>
    /// Reads prices, limits and rules from the database and swaps them in; on failure the previous ones stay. Loads
    /// are serialised, so the last one started is the one left in force.
    /// </summary>
    public async Task ReloadCostsAsync(CancellationToken cancellationToken)
    {
        if (_store is null)
        {
            return;
        }

        await _costsLoading.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var costs = await LlmCosts.LoadAsync(_store, cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _costs, costs);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.CostsNotLoaded(_logger, e);
        }
        finally
        {
            Volatile.Write(ref _costsLoadedAt, Stopwatch.GetTimestamp());
            _costsLoading.Release();
        }
    }

    /// <summary>The costs in force; starts a background reload when they are older than <see cref="CostsRefreshInterval"/>.</summary>
    internal LlmCosts CurrentCosts()
    {
        if (
            _store is not null
            && Stopwatch.GetElapsedTime(Volatile.Read(ref _costsLoadedAt)) > CostsRefreshInterval
            && Interlocked.Exchange(ref _costsRefreshing, 1) == 0
        )
        {
            _ = RefreshCostsAsync();
        }

        return Volatile.Read(ref _costs);
    }

    private async Task RefreshCostsAsync()
    {
        try
        {
            await ReloadCostsAsync(CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _costsRefreshing, 0);
        }
    }

    private static async Task DisposeLaterAsync(LlmUpstream upstream)
    {
        await Task.Delay(upstream.Config.Timeout + TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        upstream.Dispose();
    }

    public Task HandleOpenAiAsync(HttpContext context) => HandleAsync(context, LlmProviderKind.OpenAi);

    public Task HandleAnthropicAsync(HttpContext context) => HandleAsync(context, LlmProviderKind.Anthropic);

    public Task HandleGeminiAsync(HttpContext context) => HandleAsync(context, LlmProviderKind.Gemini);

    private async Task HandleAsync(HttpContext context, LlmProviderKind kind)
    {
        var start = Stopwatch.GetTimestamp();
        var request = context.Request;
        var profileName = request.RouteValues["profile"] as string ?? "";
        var rest = request.RouteValues["rest"] as string ?? "";
        var dialect = LlmDialect.For(kind, rest);
        var snapshot = Volatile.Read(ref _snapshot);
        if (!snapshot.Profiles.TryGetValue(profileName, out var profile))
        {
            await LlmErrors.WriteAsync(context, dialect, LlmError.UnknownProfile, $"Unknown LLM profile '{profileName}'.").ConfigureAwait(false);
            return;
        }

        if (profile.For(kind) is not { } upstream)
        {
            await LlmErrors
                .WriteAsync(
                    context,
                    dialect,
                    LlmError.NotOffered,
                    $"Profile '{profileName}' has no {dialect.ProviderName} provider (profiles.{profileName}.llm)."
                )
                .ConfigureAwait(false);
            return;
        }

        if (_guard.CheckOrigin(context) != GuardVerdict.Allowed)
        {
            await LlmErrors
                .WriteAsync(
                    context,
                    dialect,
                    LlmError.ForbiddenOrigin,
                    "This Origin or Host is not allowed; see security.allowedOrigins and security.allowedHosts."
                )
                .ConfigureAwait(false);
            return;
        }

        var endpoint = dialect.Resolve(rest, request.Method, out var methodOk);
        if (endpoint == LlmEndpoint.Unknown)
        {
            await LlmErrors
                .WriteAsync(
                    context,
                    dialect,
                    methodOk ? LlmError.UnknownEndpoint : LlmError.MethodNotAllowed,
                    $"Invalid URL ({request.Method} /{rest}): the proxy serves {dialect.ServedEndpoints}."
                )
                .ConfigureAwait(false);
            return;
        }

        if (!profile.PassThrough && !profile.Open && !profile.AcceptsKey(dialect.ClientKey(request)))
        {
            if (endpoint is LlmEndpoint.Generation or LlmEndpoint.Embeddings)
            {
                Metrics.Record(profile.Name, upstream.Name, "_unknown", "unauthorized", Stopwatch.GetElapsedTime(start).TotalSeconds, null, default);
            }

            await LlmErrors.WriteAsync(context, dialect, LlmError.Unauthorized, dialect.UnauthorizedMessage(profile.Name)).ConfigureAwait(false);
            return;
        }

        var exchange = new LlmExchange(this, context, dialect, profile, upstream, endpoint, start);
        try
        {
            await (
                endpoint == LlmEndpoint.Generation && LlmTelemetry.Enabled ? RunTracedAsync(exchange, profile.Name, upstream) : exchange.RunAsync()
            ).ConfigureAwait(false);
        }
        finally
        {
            exchange.Dispose();
        }
    }

    /// <summary>One generation request as the metrics, the budgets and the audit row see it.</summary>
    internal readonly record struct Interaction(
        string Profile,
        string Provider,
        LlmDialect Dialect,
        string Model,
        string? RoutedModel,
        LlmJsonScanner Scanner,
        bool Forwarded,
        string Status,
        string? Error,
        long Start,
        long? FirstToken,
        LlmToolGuard? Guard = null,
        AgentCorrelation Agent = default
    );

    /// <summary>Stage 5 of an exchange (and the record of a dual-LLM side call): metrics, budgets, the audit row.</summary>
    internal void Record(in Interaction x)
    {
        LlmTelemetry.Recorded(x);
        var elapsed = Stopwatch.GetElapsedTime(x.Start);
        double? ttft = x.FirstToken is { } t ? Stopwatch.GetElapsedTime(x.Start, t).TotalSeconds : null;
        var usage = x.Scanner.Usage;
        var model = x.Model;
        Metrics.Record(x.Profile, x.Provider, model, x.Status, elapsed.TotalSeconds, ttft, usage);
        if (x.Guard is { Refused.Count: > 0 } guard)
        {
            Metrics.RecordBlockedTools(x.Profile, x.Provider, model, guard.Refused.Count);
            Log.ToolCallsBlocked(_logger, x.Profile, x.Provider, string.Join(", ", guard.Refused));
        }

        // Not forwarded: nothing was billed. Forwarded without reported usage: unknown (null). With usage, a model
        // the table cannot price is counted.
        decimal? cost = x.Forwarded ? null : 0m;
        if (usage.Seen)
        {
            var billed = x.Dialect.ToUsage(usage);
            var prices = CurrentCosts().Prices;
            var forwarded = x.RoutedModel ?? model;
            cost = prices.Cost(x.Scanner.Model ?? forwarded, billed) ?? (x.Scanner.Model is null ? null : prices.Cost(forwarded, billed));
            Metrics.RecordCost(x.Profile, x.Provider, model, cost);
            _budgets.Add(x.Profile, usage.TotalInput + usage.AllOutput, cost);
        }

        _state.Audit?.Enqueue(
            new LlmInteractionRecord
            {
                Profile = x.Profile,
                Provider = x.Provider,
                RequestedModel = model,
                UsedModel = x.Scanner.Model ?? x.RoutedModel,
                InputTokens = usage.TotalInput,
                OutputTokens = usage.AllOutput,
                CachedInputTokens = usage.Cached,
                ReasoningTokens = usage.AllReasoning,
                Cost = cost,
                DurationMicroseconds = (long)elapsed.TotalMicroseconds,
                TimeToFirstTokenMicroseconds = x.FirstToken is { } f ? (long)Stopwatch.GetElapsedTime(x.Start, f).TotalMicroseconds : null,
                Status = x.Status,
                Error = x.Error ?? x.Guard?.AuditText(),
                AgentId = x.Agent.AgentId,
                AgentSessionId = x.Agent.SessionId,
            }
        );
    }

    public void Dispose()
    {
        foreach (var upstream in Volatile.Read(ref _snapshot).Upstreams.Values)
        {
            upstream.Dispose();
        }
    }
}
