using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using Archestra.Gateway.Metrics;
using Archestra.Runtime.Diagnostics;

namespace Archestra.Gateway.Llm;

/// <summary>
/// The LLM proxy's metrics, rendered on the Prometheus endpoint after the gateway's own and published on the
/// gateway's <see cref="Meter"/>. Labels are bounded like the MCP ones: each map keeps at most 2000 series, then
/// <c>_overflow</c>, so clients naming arbitrary models cannot grow memory.
/// </summary>
internal sealed class LlmMetrics : IPrometheusSource
{
    /// <summary>5 ms (a cached or tiny answer) to 10 min (the SDKs' own request timeout), about 1-2.5-5 per decade.</summary>
    internal static readonly double[] DurationBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120, 300, 600];

    private const string RequestsHelp =
        "LLM proxy requests, by status (ok, an upstream HTTP status, client_cancelled, stream_cut, upstream_error, timeout, unauthorized, bad_request).";
    private const string DurationHelp = "Time from receiving an LLM request to the end of its answer, in seconds.";
    private const string TtftHelp = "Time from receiving a streamed LLM request to relaying its first output token, in seconds.";
    private const string TokensHelp = "Tokens reported by the provider, by type (input includes cached; output includes reasoning).";

    private const string CostHelp = "USD cost of LLM requests whose model has a price (see /api/llm/prices).";
    private const string BlockedHelp = "Tool calls in LLM answers that the tool-invocation policies refused and the proxy replaced by text.";
    private const string UnpricedHelp = "LLM requests with reported usage whose model has no price: their cost is recorded as unknown, not 0.";

    // The cost cells count units of 1e-10 USD (the audit table's numeric(20, 10) scale), so sums stay exact.
    private const double CostUnitsPerUsd = 1e10;

    private static readonly string[] s_tokenTypes = ["input", "output", "cached", "reasoning"];

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Histogram<double> _ttft;
    private readonly Counter<long> _tokens;
    private readonly Counter<double> _cost;
    private readonly Counter<long> _unpriced;
    private readonly Counter<long> _blocked;

    public LlmMetrics(Meter meter)
    {
        _requests = meter.CreateCounter<long>("llm_requests", "{request}", RequestsHelp);
        _duration = meter.CreateHistogram(
            "llm_request_duration",
            "s",
            DurationHelp,
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets }
        );
        _ttft = meter.CreateHistogram(
            "llm_time_to_first_token",
            "s",
            TtftHelp,
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets }
        );
        _tokens = meter.CreateCounter<long>("llm_tokens", "{token}", TokensHelp);
        _cost = meter.CreateCounter<double>("llm_cost_usd", "USD", CostHelp);
        _unpriced = meter.CreateCounter<long>("llm_unpriced_requests", "{request}", UnpricedHelp);
        _blocked = meter.CreateCounter<long>("llm_blocked_tools", "{call}", BlockedHelp);
    }

    internal SeriesMap<LlmRequestKey, MetricCell> Requests { get; } = new(static () => new MetricCell(), new(Overflow, Overflow, Overflow, Overflow));

    internal SeriesMap<LlmModelKey, HistogramCell> Durations { get; } = new(static () => new HistogramCell(DurationBuckets), new(Overflow, Overflow, Overflow));

    internal SeriesMap<LlmModelKey, HistogramCell> FirstTokens { get; } =
        new(static () => new HistogramCell(DurationBuckets), new(Overflow, Overflow, Overflow));

    /// <summary>Four cells per model: input, output, cached, reasoning.</summary>
    internal SeriesMap<LlmModelKey, MetricCell[]> Tokens { get; } = new(static () => [new(), new(), new(), new()], new(Overflow, Overflow, Overflow));

    internal SeriesMap<LlmModelKey, MetricCell> Costs { get; } = new(static () => new MetricCell(), new(Overflow, Overflow, Overflow));

    internal SeriesMap<LlmModelKey, MetricCell> Unpriced { get; } = new(static () => new MetricCell(), new(Overflow, Overflow, Overflow));

    internal SeriesMap<LlmModelKey, MetricCell> BlockedTools { get; } = new(static () => new MetricCell(), new(Overflow, Overflow, Overflow));

    private const string Overflow = "_overflow";

    /// <summary>Counts tool calls of one answer that the guard refused.</summary>
    public void RecordBlockedTools(string profile, string provider, string model, int count)
    {
        BlockedTools.Get(new LlmModelKey(profile, provider, model)).Add(count);
        if (_blocked.Enabled)
        {
            _blocked.Add(
                count,
                new TagList
                {
                    { "profile", profile },
                    { "provider", provider },
                    { "model", model },
                }
            );
        }
    }

    /// <summary>Adds a priced request's cost, or counts an unpriced one (<paramref name="usd"/> null).</summary>
    public void RecordCost(string profile, string provider, string model, decimal? usd)
    {
        var key = new LlmModelKey(profile, provider, model);
        if (usd is { } cost)
        {
            Costs.Get(key).Add(decimal.ToInt64(decimal.Round(cost * 10_000_000_000m, MidpointRounding.ToEven)));
        }
        else
        {
            Unpriced.Get(key).Increment();
        }

        if (_cost.Enabled || _unpriced.Enabled)
        {
            var tags = new TagList
            {
                { "profile", profile },
                { "provider", provider },
                { "model", model },
            };
            if (usd is { } value)
            {
                _cost.Add((double)value, tags);
            }
            else
            {
                _unpriced.Add(1, tags);
            }
        }
    }

    public void Record(string profile, string provider, string model, string status, double seconds, double? ttftSeconds, in LlmUsage usage)
    {
        var key = new LlmModelKey(profile, provider, model);
        Requests.Get(new LlmRequestKey(profile, provider, model, status)).Increment();
        Durations.Get(key).Observe(seconds);
        if (ttftSeconds is { } ttft)
        {
            FirstTokens.Get(key).Observe(ttft);
        }

        if (usage.Seen)
        {
            var cells = Tokens.Get(key);
            cells[0].Add(usage.TotalInput);
            cells[1].Add(usage.AllOutput);
            cells[2].Add(usage.Cached);
            cells[3].Add(usage.AllReasoning);
        }

        if (_requests.Enabled || _duration.Enabled || _ttft.Enabled || _tokens.Enabled)
        {
            Publish(profile, provider, model, status, seconds, ttftSeconds, usage);
        }
    }

    private void Publish(string profile, string provider, string model, string status, double seconds, double? ttftSeconds, in LlmUsage usage)
    {
        var tags = new TagList
        {
            { "profile", profile },
            { "provider", provider },
            { "model", model },
        };
        _duration.Record(seconds, tags);
        if (ttftSeconds is { } ttft)
        {
            _ttft.Record(ttft, tags);
        }

        if (usage.Seen)
        {
            long[] values = [usage.TotalInput, usage.AllOutput, usage.Cached, usage.AllReasoning];
            for (var i = 0; i < values.Length; i++)
            {
                var typed = tags;
                typed.Add("type", s_tokenTypes[i]);
                _tokens.Add(values[i], typed);
            }
        }

        tags.Add("status", status);
        _requests.Add(1, tags);
    }

    public void WritePrometheus(StringBuilder builder)
    {
        const string requests = "llm_requests_total";
        PrometheusExporter.Family(builder, requests, RequestsHelp, "counter");
        var series = Requests.Snapshot();
        Array.Sort(series, static (a, b) => string.CompareOrdinal(a.Key.ToString(), b.Key.ToString()));
        foreach (var (key, cell) in series)
        {
            var labels = new PrometheusExporter.LabelSet(0)
                .Add("profile", key.Profile)
                .Add("provider", key.Provider)
                .Add("model", key.Model)
                .Add("status", key.Status);
            PrometheusExporter.Sample(builder, requests, labels.ToString(), cell.Value);
        }

        WriteHistogram(builder, "llm_request_duration_seconds", DurationHelp, Durations);
        WriteHistogram(builder, "llm_time_to_first_token_seconds", TtftHelp, FirstTokens);

        const string tokens = "llm_tokens_total";
        PrometheusExporter.Family(builder, tokens, TokensHelp, "counter");
        var tokenSeries = Tokens.Snapshot();
        Array.Sort(tokenSeries, static (a, b) => string.CompareOrdinal(a.Key.ToString(), b.Key.ToString()));
        foreach (var (key, cells) in tokenSeries)
        {
            var common = Labels(key);
            for (var i = 0; i < cells.Length; i++)
            {
                PrometheusExporter.Sample(builder, tokens, common.With("type", s_tokenTypes[i]), cells[i].Value);
            }
        }

        WriteCounter(builder, "llm_cost_usd_total", CostHelp, Costs, CostUnitsPerUsd);
        WriteCounter(builder, "llm_blocked_tools_total", BlockedHelp, BlockedTools, 1);
        WriteCounter(builder, "llm_unpriced_requests_total", UnpricedHelp, Unpriced, 1);
    }

    /// <summary>One counter family by profile, provider and model; each cell's count is divided by <paramref name="unitsPerValue"/>.</summary>
    private static void WriteCounter(StringBuilder builder, string name, string help, SeriesMap<LlmModelKey, MetricCell> map, double unitsPerValue)
    {
        PrometheusExporter.Family(builder, name, help, "counter");
        var series = map.Snapshot();
        Array.Sort(series, static (a, b) => string.CompareOrdinal(a.Key.ToString(), b.Key.ToString()));
        foreach (var (key, cell) in series)
        {
            if (unitsPerValue == 1)
            {
                PrometheusExporter.Sample(builder, name, Labels(key).ToString(), cell.Value);
            }
            else
            {
                PrometheusExporter.Sample(builder, name, Labels(key).ToString(), cell.Value / unitsPerValue);
            }
        }
    }

    private static PrometheusExporter.LabelSet Labels(LlmModelKey key) =>
        new PrometheusExporter.LabelSet(0).Add("profile", key.Profile).Add("provider", key.Provider).Add("model", key.Model);

    private static void WriteHistogram(StringBuilder builder, string name, string help, SeriesMap<LlmModelKey, HistogramCell> map)
    {
        PrometheusExporter.Family(builder, name, help, "histogram");
        var series = map.Snapshot();
        Array.Sort(series, static (a, b) => string.CompareOrdinal(a.Key.ToString(), b.Key.ToString()));
        foreach (var (key, cell) in series)
        {
            var (cumulative, sum) = cell.Snapshot();
            var common = Labels(key);
            for (var i = 0; i < cumulative.Length; i++)
            {
                var le = i < DurationBuckets.Length ? DurationBuckets[i].ToString("0.###", System.Globalization.CultureInfo.InvariantCulture) : "+Inf";
                PrometheusExporter.Sample(builder, name + "_bucket", common.With("le", le), cumulative[i]);
            }

            var labels = common.ToString();
            PrometheusExporter.Sample(builder, name + "_sum", labels, sum);
            PrometheusExporter.Sample(builder, name + "_count", labels, cumulative[^1]);
        }
    }
}

internal readonly record struct LlmRequestKey(string Profile, string Provider, string Model, string Status);

internal readonly record struct LlmModelKey(string Profile, string Provider, string Model);
