using System.Diagnostics;
using System.Diagnostics.Metrics;
using Archestra.Runtime.Diagnostics;

namespace Archestra.Gateway.Metrics;

/// <summary>
/// The gateway's own metrics. Every measurement is aggregated here for the Prometheus endpoint and also
/// published on the <c>Archestra.Gateway</c> <see cref="System.Diagnostics.Metrics.Meter"/> so
/// dotnet-counters or an OpenTelemetry exporter can listen too. Instrument names are the Prometheus
/// names without the <c>_total</c> and unit suffixes, which is how OpenTelemetry's Prometheus mapping
/// adds them back. Each instance keeps its own series, so tests and hosts do not share state.
/// </summary>
public sealed class GatewayMetrics : IDisposable
{
    public const string MeterName = "Archestra.Gateway";

    /// <summary>
    /// Upper bounds in seconds for tool call durations: 50 µs (a cached in-process answer) to 60 s (the
    /// default upstream timeout), roughly 1-2.5-5 per decade.
    /// </summary>
    internal static readonly double[] DurationBuckets =
    [
        0.00005,
        0.0001,
        0.00025,
        0.0005,
        0.001,
        0.0025,
        0.005,
        0.01,
        0.025,
        0.05,
        0.1,
        0.25,
        0.5,
        1,
        2.5,
        5,
        10,
        30,
        60,
    ];

    internal const string Overflow = "_overflow";

    internal const string ToolCallsHelp = "MCP tools/call requests handled, by outcome.";
    internal const string ToolCallDurationHelp = "Time from receiving a tools/call to sending its result, in seconds.";
    internal const string UpstreamUpHelp = "1 when the upstream MCP server is connected and initialized, else 0.";
    internal const string SessionsActiveHelp = "MCP sessions currently open.";
    internal const string UpstreamRestartsHelp = "Times an upstream MCP server was restarted or reconnected.";
    internal const string UpstreamListFailuresHelp = "Failed tools/list (or other list) requests to an upstream MCP server.";
    internal const string RequestsHelp = "MCP JSON-RPC messages handled, by method and outcome.";

    private readonly Meter _meter;
    private readonly Counter<long> _toolCalls;
    private readonly Histogram<double> _toolCallDuration;
    private readonly Counter<long> _upstreamRestarts;
    private readonly Counter<long> _upstreamListFailures;
    private readonly Counter<long> _requests;
    private long _sessionsActive;
    private IPrometheusSource[] _sources = [];

    internal SeriesMap<ToolCallKey, MetricCell> ToolCalls { get; } = new(static () => new MetricCell(), new(Overflow, Overflow, Overflow, Overflow));
    internal SeriesMap<ToolKey, HistogramCell> ToolCallDurations { get; } =
        new(static () => new HistogramCell(DurationBuckets), new(Overflow, Overflow, Overflow));
    internal SeriesMap<string, MetricCell> UpstreamUp { get; } = new(static () => new MetricCell(), Overflow);
    internal SeriesMap<string, MetricCell> UpstreamRestarts { get; } = new(static () => new MetricCell(), Overflow);
    internal SeriesMap<string, MetricCell> UpstreamListFailures { get; } = new(static () => new MetricCell(), Overflow);
    internal SeriesMap<RequestKey, MetricCell> Requests { get; } = new(static () => new MetricCell(), new(Overflow, Overflow, Overflow));

    internal long SessionsActive => Volatile.Read(ref _sessionsActive);

    public GatewayMetrics()
    {
        _meter = new Meter(MeterName, GatewayInfo.Version);
        _toolCalls = _meter.CreateCounter<long>("mcp_tool_calls", "{call}", ToolCallsHelp);
        _toolCallDuration = _meter.CreateHistogram(
            "mcp_tool_call_duration",
            "s",
            ToolCallDurationHelp,
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets }
        );
        _upstreamRestarts = _meter.CreateCounter<long>("mcp_upstream_restarts", "{restart}", UpstreamRestartsHelp);
        _upstreamListFailures = _meter.CreateCounter<long>("mcp_upstream_list_failures", "{failure}", UpstreamListFailuresHelp);
        _requests = _meter.CreateCounter<long>("mcp_requests", "{request}", RequestsHelp);
        _meter.CreateObservableGauge("mcp_upstream_up", ObserveUpstreamUp, unit: null, UpstreamUpHelp);
        _meter.CreateObservableGauge("mcp_sessions_active", () => SessionsActive, "{session}", SessionsActiveHelp);
    }

    /// <summary>Other components' metrics rendered on the same Prometheus endpoint.</summary>
    internal IPrometheusSource[] Sources => Volatile.Read(ref _sources);

    /// <summary>Adds a component's metrics (e.g. <c>AuditWriter.Metrics</c>) to the Prometheus endpoint.</summary>
    public void AddSource(IPrometheusSource source)
    {
        ArgumentNullException.ThrowIfNull(source);
        lock (_meter)
        {
            Volatile.Write(ref _sources, [.. _sources, source]);
        }
    }

    /// <summary>The meter the instruments live on, for listeners that want them directly.</summary>
    public Meter Meter => _meter;

    /// <summary>
    /// One finished tools/call. <paramref name="outcome"/> should come from a small fixed set
    /// (e.g. ok, error, denied, timeout); unknown tools should be recorded under a fixed name.
    /// </summary>
    public void RecordToolCall(string profile, string server, string tool, string outcome, double seconds)
    {
        Telemetry.ArchestraTelemetry.Outcome(outcome);
        ToolCalls.Get(new ToolCallKey(profile, server, tool, outcome)).Increment();
        ToolCallDurations.Get(new ToolKey(profile, server, tool)).Observe(seconds);

        if (_toolCalls.Enabled)
        {
            var tags = new TagList
            {
                { "profile", profile },
                { "server", server },
                { "tool", tool },
                { "outcome", outcome },
            };
            _toolCalls.Add(1, tags);
        }

        if (_toolCallDuration.Enabled)
        {
            var tags = new TagList
            {
                { "profile", profile },
                { "server", server },
                { "tool", tool },
            };
            _toolCallDuration.Record(seconds, tags);
        }
    }

    /// <summary>One JSON-RPC message on the MCP endpoint; pass a fixed name such as "other" for methods the gateway does not know.</summary>
    public void RecordRequest(string profile, string method, string outcome)
    {
        Telemetry.ArchestraTelemetry.Outcome(outcome);
        Requests.Get(new RequestKey(profile, method, outcome)).Increment();
        if (_requests.Enabled)
        {
            var tags = new TagList
            {
                { "profile", profile },
                { "method", method },
                { "outcome", outcome },
            };
            _requests.Add(1, tags);
        }
    }

    public void SetUpstreamUp(string server, bool up) => UpstreamUp.Get(server).Set(up ? 1 : 0);

    public void SessionOpened() => Interlocked.Increment(ref _sessionsActive);

    public void SessionClosed() => Interlocked.Decrement(ref _sessionsActive);

    public void UpstreamRestarted(string server)
    {
        UpstreamRestarts.Get(server).Increment();
        if (_upstreamRestarts.Enabled)
        {
            _upstreamRestarts.Add(1, new KeyValuePair<string, object?>("server", server));
        }
    }

    public void UpstreamListFailed(string server)
    {
        UpstreamListFailures.Get(server).Increment();
        if (_upstreamListFailures.Enabled)
        {
            _upstreamListFailures.Add(1, new KeyValuePair<string, object?>("server", server));
        }
    }

    public void Dispose() => _meter.Dispose();

    private IEnumerable<Measurement<int>> ObserveUpstreamUp()
    {
        var series = UpstreamUp.Snapshot();
        var measurements = new Measurement<int>[series.Length];
        for (var i = 0; i < series.Length; i++)
        {
            measurements[i] = new Measurement<int>((int)series[i].Value.Value, new KeyValuePair<string, object?>("server", series[i].Key));
        }

        return measurements;
    }
}

internal readonly record struct ToolCallKey(string Profile, string Server, string Tool, string Outcome);

internal readonly record struct ToolKey(string Profile, string Server, string Tool);

internal readonly record struct RequestKey(string Profile, string Method, string Outcome);
