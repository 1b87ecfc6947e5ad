using System.Globalization;
using System.Text;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Metrics;
using Archestra.Runtime.Diagnostics;
using Archestra.Runtime.Http;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace Archestra.Gateway.Llm;

/// <summary>
/// One key of a provider (or the client's own key, for pass-through profiles) with its circuit breaker: a key that
/// keeps failing is taken out of rotation for the break duration while the provider's other keys serve.
/// </summary>
internal sealed class LlmUpstreamKey
{
    private long _openUntilTicks;

    public LlmUpstreamKey(string provider, string name, string? value, LlmResilienceConfig config, LlmResilienceMetrics metrics, ILogger logger)
    {
        Name = name;
        Value = value;
        Breaker = new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddCircuitBreaker(
                new CircuitBreakerStrategyOptions<HttpResponseMessage>
                {
                    FailureRatio = config.FailureRatio,
                    MinimumThroughput = config.MinimumThroughput,
                    SamplingDuration = config.SamplingDuration,
                    BreakDuration = config.BreakDuration,
                    StateProvider = State,

                    // 401/403/429 say nothing about the provider's health: they move the request to the next key instead.
                    ShouldHandle = static args => new ValueTask<bool>(LlmResilience.IsFailure(args.Outcome, args.Context.CancellationToken)),
                    OnOpened = args =>
                    {
                        Volatile.Write(ref _openUntilTicks, DateTime.UtcNow.Add(args.BreakDuration).Ticks);
                        metrics.CircuitChanged(provider, name, "open");
                        Log.CircuitChanged(
                            logger,
                            provider,
                            name,
                            "open",
                            $" for {args.BreakDuration.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s after repeated failures "
                                + $"(last: {LlmResilience.Describe(args.Outcome)})"
                        );
                        return default;
                    },
                    OnHalfOpened = args =>
                    {
                        metrics.CircuitChanged(provider, name, "half_open");
                        Log.CircuitChanged(logger, provider, name, "half-open", ": one request probes it");
                        return default;
                    },
                    OnClosed = args =>
                    {
                        metrics.CircuitChanged(provider, name, "closed");
                        Log.CircuitChanged(logger, provider, name, "closed", "");
                        return default;
                    },
                }
            )
            .Build();
    }

    /// <summary>The env variable's or the admin API's name of the key; <c>client</c> for the client's own.</summary>
    public string Name { get; }

    /// <summary>The key sent upstream; null: the client's own headers go through (pass-through).</summary>
    public string? Value { get; }

    public CircuitBreakerStateProvider State { get; } = new();

    public ResiliencePipeline<HttpResponseMessage> Breaker { get; }

    public bool IsOpen => State.CircuitState is CircuitState.Open or CircuitState.Isolated;

    /// <summary>When the open circuit lets a probe through.</summary>
    public DateTime OpenUntil => new(Volatile.Read(ref _openUntilTicks), DateTimeKind.Utc);
}

/// <summary>The retry strategy of a provider and the rules shared by it and the keys' circuit breakers.</summary>
internal static class LlmResilience
{
    // The OpenAI and Anthropic SDKs back off from 0.5 s, doubling, to at most 8 s.
    private static readonly TimeSpan s_maxBackoff = TimeSpan.FromSeconds(8);

    private static readonly TimeSpan s_retryAfterMargin = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// Retries wrap only the sending of the request (up to the answer's headers): the answer is relayed after the
    /// pipeline returned, so nothing ever reached the client when a retry happens. Timeouts are not Polly's: the
    /// provider's overall timeout must also bound the relay of a streamed body, which runs outside the pipeline.
    /// </summary>
    public static ResiliencePipeline<HttpResponseMessage> BuildRetry(string provider, LlmResilienceConfig config, LlmResilienceMetrics metrics, ILogger logger)
    {
        if (config.Retries == 0)
        {
            return ResiliencePipeline<HttpResponseMessage>.Empty;
        }

        var maxRetryAfter = config.MaxRetryAfter;
        return new ResiliencePipelineBuilder<HttpResponseMessage>()
            .AddRetry(
                new RetryStrategyOptions<HttpResponseMessage>
                {
                    MaxRetryAttempts = config.Retries,
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = true,
                    Delay = config.RetryDelay,
                    MaxDelay = s_maxBackoff,
                    ShouldHandle = args => new ValueTask<bool>(RetryReason(args.Outcome, args.Context.CancellationToken, maxRetryAfter) is not null),
                    // Timers may fire up to a tick (~1 ms) early; the margin keeps the retry from arriving before the provider said.
                    DelayGenerator = static args => new ValueTask<TimeSpan?>(
                        args.Outcome.Result is { } response && RetryAfter(response) is { } wait ? wait + s_retryAfterMargin : null
                    ),
                    OnRetry = args =>
                    {
                        var reason = RetryReason(args.Outcome, args.Context.CancellationToken, maxRetryAfter) ?? "other";
                        metrics.Retried(provider, reason);
                        Log.Retrying(logger, provider, args.AttemptNumber + 1, Describe(args.Outcome), args.RetryDelay.TotalSeconds);

                        // The discarded answer holds a pooled connection until disposed.
                        args.Outcome.Result?.Dispose();
                        return default;
                    },
                }
            )
            .Build();
    }

    /// <summary>A failure of the provider for its circuit: no connection, no answer in time, or a 5xx.</summary>
    public static bool IsFailure(in Outcome<HttpResponseMessage> outcome, CancellationToken cancellationToken) =>
        outcome.Exception is HttpRequestException
        || (outcome.Exception is OperationCanceledException && !cancellationToken.IsCancellationRequested)
        || (outcome.Result is { } response && (int)response.StatusCode >= 500);

    /// <summary>
    /// Why an attempt is worth repeating (the <c>reason</c> label), or null: connect failures, 429 and 5xx whose
    /// Retry-After is at most <paramref name="maxRetryAfter"/>. An open circuit is not retried: it fails fast.
    /// </summary>
    public static string? RetryReason(in Outcome<HttpResponseMessage> outcome, CancellationToken cancellationToken, TimeSpan maxRetryAfter)
    {
        if (outcome.Exception is { } exception)
        {
            return exception switch
            {
                HttpRequestException => "connect",

                // The connect timeout (SocketsHttpHandler.ConnectTimeout) cancels without the request's token.
                OperationCanceledException when !cancellationToken.IsCancellationRequested => "connect_timeout",
                _ => null,
            };
        }

        var response = outcome.Result!;
        var status = (int)response.StatusCode;
        if (status != 429 && status < 500)
        {
            return null;
        }

        return RetryAfter(response) is { } wait && wait > maxRetryAfter ? null
            : status == 429 ? "429"
            : "5xx";
    }

    /// <summary>
    /// The wait the provider asked for: <c>retry-after-ms</c> (OpenAI), else <c>Retry-After</c> in seconds or as an
    /// HTTP date (RFC 9110, 10.2.3); null when it asked for none.
    /// </summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        if (
            response.Headers.NonValidated.TryGetValues("retry-after-ms", out var ms)
            && double.TryParse(ms.ToString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var milliseconds)
            && milliseconds >= 0
        )
        {
            return TimeSpan.FromMilliseconds(milliseconds);
        }

        if (response.Headers.RetryAfter is not { } header)
        {
            return null;
        }

        if (header.Delta is { } delta)
        {
            return delta;
        }

        return header.Date is { } date ? TimeSpan.FromTicks(Math.Max(0, (date - DateTimeOffset.UtcNow).Ticks)) : null;
    }

    /// <summary>Short words for a log line and the audit row: the status or what went wrong with the connection.</summary>
    public static string Describe(in Outcome<HttpResponseMessage> outcome) =>
        outcome.Result is { } response ? ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture)
        : outcome.Exception is OperationCanceledException ? "connect timeout"
        : outcome.Exception is { } e ? HttpFailure.Describe(e)
        : "";
}

/// <summary>
/// <c>llm_upstream_retries_total{provider,reason}</c>, <c>llm_upstream_key_fallbacks_total{provider,key,reason}</c>,
/// <c>llm_circuit_transitions_total{provider,key,state}</c> and the gauge <c>llm_circuit_open{provider,key}</c>.
/// </summary>
internal sealed class LlmResilienceMetrics(Func<IEnumerable<LlmUpstream>> upstreams) : IPrometheusSource
{
    private const string Overflow = "_overflow";
    private const string RetriesHelp = "Attempts the LLM proxy repeated, by reason (connect, connect_timeout, 429, 5xx).";
    private const string FallbacksHelp = "Requests moved from one provider key to the next, by reason (401, 403, 429, circuit_open).";
    private const string TransitionsHelp = "Circuit breaker state changes of a provider key, by the state entered (open, half_open, closed).";
    private const string OpenHelp = "1 while the circuit of a provider key is open (requests skip that key or fail fast).";

    internal SeriesMap<(string Provider, string Reason), MetricCell> Retries { get; } = new(static () => new MetricCell(), (Overflow, Overflow));

    internal SeriesMap<(string Provider, string Key, string Reason), MetricCell> Fallbacks { get; } =
        new(static () => new MetricCell(), (Overflow, Overflow, Overflow));

    internal SeriesMap<(string Provider, string Key, string State), MetricCell> Transitions { get; } =
        new(static () => new MetricCell(), (Overflow, Overflow, Overflow));

    public void Retried(string provider, string reason) => Retries.Get((provider, reason)).Increment();

    public void FellBack(string provider, string key, string reason) => Fallbacks.Get((provider, key, reason)).Increment();

    public void CircuitChanged(string provider, string key, string state) => Transitions.Get((provider, key, state)).Increment();

    public void WritePrometheus(StringBuilder builder)
    {
        const string retries = "llm_upstream_retries_total";
        PrometheusExporter.Family(builder, retries, RetriesHelp, "counter");
        foreach (var ((provider, reason), cell) in Sorted(Retries.Snapshot(), static k => k.Provider + "\0" + k.Reason))
        {
            PrometheusExporter.Sample(
                builder,
                retries,
                new PrometheusExporter.LabelSet(0).Add("provider", provider).Add("reason", reason).ToString(),
                cell.Value
            );
        }

        WriteKeyed(builder, "llm_upstream_key_fallbacks_total", FallbacksHelp, "reason", Fallbacks);
        WriteKeyed(builder, "llm_circuit_transitions_total", TransitionsHelp, "state", Transitions);

        const string open = "llm_circuit_open";
        PrometheusExporter.Family(builder, open, OpenHelp, "gauge");
        foreach (var upstream in upstreams())
        {
            foreach (var key in upstream.AllKeys)
            {
                PrometheusExporter.Sample(
                    builder,
                    open,
                    new PrometheusExporter.LabelSet(0).Add("provider", upstream.Name).Add("key", key.Name).ToString(),
                    key.IsOpen ? 1 : 0
                );
            }
        }
    }

    private static void WriteKeyed(
        StringBuilder builder,
        string name,
        string help,
        string third,
        SeriesMap<(string Provider, string Key, string Third), MetricCell> map
    )
    {
        PrometheusExporter.Family(builder, name, help, "counter");
        foreach (var ((provider, key, value), cell) in Sorted(map.Snapshot(), static k => k.Provider + "\0" + k.Key + "\0" + k.Third))
        {
            PrometheusExporter.Sample(
                builder,
                name,
                new PrometheusExporter.LabelSet(0).Add("provider", provider).Add("key", key).Add(third, value).ToString(),
                cell.Value
            );
        }
    }

    private static KeyValuePair<TKey, MetricCell>[] Sorted<TKey>(KeyValuePair<TKey, MetricCell>[] series, Func<TKey, string> order)
        where TKey : notnull
    {
        Array.Sort(series, (a, b) => string.CompareOrdinal(order(a.Key), order(b.Key)));
        return series;
    }
}

internal static partial class Log
{
    [LoggerMessage(3101, LogLevel.Warning, "LLM provider '{Provider}': attempt {Attempt} after {Failure}, waiting {Seconds} s")]
    public static partial void Retrying(ILogger logger, string provider, int attempt, LogText failure, double seconds);

    [LoggerMessage(3102, LogLevel.Warning, "LLM provider '{Provider}' key '{Key}': circuit {State}{Detail}")]
    public static partial void CircuitChanged(ILogger logger, string provider, string key, string state, LogText detail);
}
