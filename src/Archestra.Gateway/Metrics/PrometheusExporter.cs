using System.Globalization;
using System.Text;
using Archestra.Runtime.Diagnostics;

namespace Archestra.Gateway.Metrics;

/// <summary>
/// Renders <see cref="GatewayMetrics"/> plus process and runtime metrics in the Prometheus text
/// exposition format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
/// Series are sorted by label values so consecutive scrapes diff cleanly.
/// </summary>
public sealed class PrometheusExporter
{
    /// <summary>The Content-Type Prometheus expects for format 0.0.4.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly GatewayMetrics _metrics;
    private readonly bool _includeProcess;
    private int _lastLength = 4096;

    public PrometheusExporter(GatewayMetrics metrics)
        : this(metrics, includeProcess: true) { }

    internal PrometheusExporter(GatewayMetrics metrics, bool includeProcess)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        _metrics = metrics;
        _includeProcess = includeProcess;
    }

    public string Render()
    {
        var builder = new StringBuilder(Volatile.Read(ref _lastLength) + 256);
        Write(builder);
        Volatile.Write(ref _lastLength, builder.Length);
        return builder.ToString();
    }

    public void Write(StringBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        WriteToolCalls(builder);
        WriteToolCallDurations(builder);
        WriteRequests(builder);

        Family(builder, "mcp_sessions_active", GatewayMetrics.SessionsActiveHelp, "gauge");
        Sample(builder, "mcp_sessions_active", "", _metrics.SessionsActive);

        WriteByServer(builder, "mcp_upstream_up", GatewayMetrics.UpstreamUpHelp, "gauge", _metrics.UpstreamUp);
        WriteByServer(builder, "mcp_upstream_restarts_total", GatewayMetrics.UpstreamRestartsHelp, "counter", _metrics.UpstreamRestarts);
        WriteByServer(builder, "mcp_upstream_list_failures_total", GatewayMetrics.UpstreamListFailuresHelp, "counter", _metrics.UpstreamListFailures);

        foreach (var source in _metrics.Sources)
        {
            source.WritePrometheus(builder);
        }

        if (_includeProcess)
        {
            ProcessMetrics.Write(builder);
        }
    }

    private void WriteToolCalls(StringBuilder builder)
    {
        const string name = "mcp_tool_calls_total";
        Family(builder, name, GatewayMetrics.ToolCallsHelp, "counter");
        var series = _metrics.ToolCalls.Snapshot();
        Array.Sort(series, static (a, b) =>
            Compare(a.Key.Profile, b.Key.Profile, a.Key.Server, b.Key.Server, a.Key.Tool, b.Key.Tool, a.Key.Outcome, b.Key.Outcome)
        );
        foreach (var (key, cell) in series)
        {
            var labels = new LabelSet(0).Add("profile", key.Profile).Add("server", key.Server).Add("tool", key.Tool).Add("outcome", key.Outcome);
            Sample(builder, name, labels.ToString(), cell.Value);
        }
    }

    private void WriteToolCallDurations(StringBuilder builder)
    {
        const string name = "mcp_tool_call_duration_seconds";
        Family(builder, name, GatewayMetrics.ToolCallDurationHelp, "histogram");
        var series = _metrics.ToolCallDurations.Snapshot();
        Array.Sort(series, static (a, b) => Compare(a.Key.Profile, b.Key.Profile, a.Key.Server, b.Key.Server, a.Key.Tool, b.Key.Tool, "", ""));
        var bounds = GatewayMetrics.DurationBuckets;
        foreach (var (key, cell) in series)
        {
            var (cumulative, sum) = cell.Snapshot();
            var common = new LabelSet(0).Add("profile", key.Profile).Add("server", key.Server).Add("tool", key.Tool);
            for (var i = 0; i < cumulative.Length; i++)
            {
                var le = i < bounds.Length ? FormatBound(bounds[i]) : "+Inf";
                Sample(builder, name + "_bucket", common.With("le", le), cumulative[i]);
            }

            var labels = common.ToString();
            Sample(builder, name + "_sum", labels, sum);
            Sample(builder, name + "_count", labels, cumulative[^1]);
        }
    }

    private void WriteRequests(StringBuilder builder)
    {
        const string name = "mcp_requests_total";
        Family(builder, name, GatewayMetrics.RequestsHelp, "counter");
        var series = _metrics.Requests.Snapshot();
        Array.Sort(series, static (a, b) => Compare(a.Key.Profile, b.Key.Profile, a.Key.Method, b.Key.Method, a.Key.Outcome, b.Key.Outcome, "", ""));
        foreach (var (key, cell) in series)
        {
            var labels = new LabelSet(0).Add("profile", key.Profile).Add("method", key.Method).Add("outcome", key.Outcome);
            Sample(builder, name, labels.ToString(), cell.Value);
        }
    }

    private static void WriteByServer(StringBuilder builder, string name, string help, string type, SeriesMap<string, MetricCell> map)
    {
        Family(builder, name, help, type);
        var series = map.Snapshot();
        Array.Sort(series, static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        foreach (var (server, cell) in series)
        {
            Sample(builder, name, new LabelSet(0).Add("server", server).ToString(), cell.Value);
        }
    }

    private static int Compare(string a1, string b1, string a2, string b2, string a3, string b3, string a4, string b4)
    {
        var c = string.CompareOrdinal(a1, b1);
        if (c == 0)
        {
            c = string.CompareOrdinal(a2, b2);
        }

        if (c == 0)
        {
            c = string.CompareOrdinal(a3, b3);
        }

        return c != 0 ? c : string.CompareOrdinal(a4, b4);
    }

    internal static void Family(StringBuilder builder, string name, string help, string type) => PrometheusText.Family(builder, name, help, type);

    internal static void Sample(StringBuilder builder, string name, string labels, long value) => PrometheusText.Sample(builder, name, labels, value);

    internal static void Sample(StringBuilder builder, string name, string labels, double value) => PrometheusText.Sample(builder, name, labels, value);

    internal static string FormatValue(double value) => PrometheusText.FormatValue(value);

    // Plain decimals ("0.00005", not "5E-05") so le values read like every other exporter's.
    private static string FormatBound(double bound) => bound.ToString("0.##########", CultureInfo.InvariantCulture);

    /// <summary>Builds <c>{a="x",b="y"}</c> with label values escaped per the exposition format.</summary>
    internal readonly struct LabelSet
    {
        private readonly StringBuilder _builder;

        public LabelSet(int capacity) => _builder = new StringBuilder(Math.Max(capacity, 64));

        public LabelSet Add(string name, string value)
        {
            _builder.Append(_builder.Length == 0 ? '{' : ',').Append(name).Append("=\"");
            AppendEscaped(_builder, value);
            _builder.Append('"');
            return this;
        }

        /// <summary>These labels plus one more, leaving this set unchanged.</summary>
        public string With(string name, string value)
        {
            var copy = new StringBuilder(_builder.Length + name.Length + value.Length + 8).Append(_builder);
            copy.Append(copy.Length == 0 ? '{' : ',').Append(name).Append("=\"");
            AppendEscaped(copy, value);
            return copy.Append("\"}").ToString();
        }

        public override string ToString() => _builder.Length == 0 ? "" : _builder.ToString() + "}";

        internal static void AppendEscaped(StringBuilder builder, string value)
        {
            foreach (var c in value)
            {
                _ = c switch
                {
                    '\\' => builder.Append(@"\\"),
                    '"' => builder.Append("\\\""),
                    '\n' => builder.Append(@"\n"),
                    _ => builder.Append(c),
                };
            }
        }
    }
}
