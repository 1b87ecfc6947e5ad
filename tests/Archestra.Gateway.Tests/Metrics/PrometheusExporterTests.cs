using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using Archestra.Gateway.Metrics;
using Archestra.Gateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Archestra.Gateway.Tests.Metrics;

public sealed class PrometheusExporterTests : IDisposable
{
    private readonly GatewayMetrics _metrics = new();

    public void Dispose() => _metrics.Dispose();

    // Powers of two, so the sum is exact: 2^-15 s, 2^-9 s and 64 s.
    private const double Tiny = 0.000030517578125;
    private const double Small = 0.001953125;
    private const double Huge = 64;

    private void RecordSample()
    {
        _metrics.RecordToolCall("default", "files", "read_file", "ok", Tiny);
        _metrics.RecordToolCall("default", "files", "read_file", "ok", Small);
        _metrics.RecordToolCall("default", "files", "read_file", "error", Huge);
        _metrics.RecordRequest("default", "tools/call", "ok");
        _metrics.RecordRequest("default", "tools/call", "ok");
        _metrics.RecordRequest("default", "initialize", "ok");
        _metrics.SetUpstreamUp("remote", false);
        _metrics.SetUpstreamUp("files", true);
        _metrics.SessionOpened();
        _metrics.SessionOpened();
        _metrics.SessionClosed();
        _metrics.UpstreamRestarted("files");
        _metrics.UpstreamListFailed("remote");
        _metrics.UpstreamListFailed("remote");
    }

    [Fact]
    public void Renders_every_family_in_the_text_format_with_cumulative_buckets()
    {
        RecordSample();

        var text = new PrometheusExporter(_metrics, includeProcess: false).Render();

        const string labels = "profile=\"default\",server=\"files\",tool=\"read_file\"";
        string[] bounds =
        [
            "0.00005",
            "0.0001",
            "0.00025",
            "0.0005",
            "0.001",
            "0.0025",
            "0.005",
            "0.01",
            "0.025",
            "0.05",
            "0.1",
            "0.25",
            "0.5",
            "1",
            "2.5",
            "5",
            "10",
            "30",
            "60",
        ];
        var buckets = new List<string>();
        foreach (var bound in bounds)
        {
            var cumulative = bound is "0.00005" or "0.0001" or "0.00025" or "0.0005" or "0.001" ? 1 : 2;
            buckets.Add($"mcp_tool_call_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }

        string[] expected =
        [
            "# HELP mcp_tool_calls_total MCP tools/call requests handled, by outcome.",
            "# TYPE mcp_tool_calls_total counter",
            $"mcp_tool_calls_total{{{labels},outcome=\"error\"}} 1",
            $"mcp_tool_calls_total{{{labels},outcome=\"ok\"}} 2",
            "# HELP mcp_tool_call_duration_seconds Time from receiving a tools/call to sending its result, in seconds.",
            "# TYPE mcp_tool_call_duration_seconds histogram",
            .. buckets,
            $"mcp_tool_call_duration_seconds_bucket{{{labels},le=\"+Inf\"}} 3",
            $"mcp_tool_call_duration_seconds_sum{{{labels}}} 64.00198364257812",
            $"mcp_tool_call_duration_seconds_count{{{labels}}} 3",
            "# HELP mcp_requests_total MCP JSON-RPC messages handled, by method and outcome.",
            "# TYPE mcp_requests_total counter",
            "mcp_requests_total{profile=\"default\",method=\"initialize\",outcome=\"ok\"} 1",
            "mcp_requests_total{profile=\"default\",method=\"tools/call\",outcome=\"ok\"} 2",
            "# HELP mcp_sessions_active MCP sessions currently open.",
            "# TYPE mcp_sessions_active gauge",
            "mcp_sessions_active 1",
            "# HELP mcp_upstream_up 1 when the upstream MCP server is connected and initialized, else 0.",
            "# TYPE mcp_upstream_up gauge",
            "mcp_upstream_up{server=\"files\"} 1",
            "mcp_upstream_up{server=\"remote\"} 0",
            "# HELP mcp_upstream_restarts_total Times an upstream MCP server was restarted or reconnected.",
            "# TYPE mcp_upstream_restarts_total counter",
            "mcp_upstream_restarts_total{server=\"files\"} 1",
            "# HELP mcp_upstream_list_failures_total Failed tools/list (or other list) requests to an upstream MCP server.",
            "# TYPE mcp_upstream_list_failures_total counter",
            "mcp_upstream_list_failures_total{server=\"remote\"} 2",
        ];
        Assert.Equal(string.Join('\n', expected) + "\n", text);
    }

    [Fact]
    public void Families_without_series_still_have_help_and_type()
    {
        var text = new PrometheusExporter(_metrics, includeProcess: false).Render();

        Assert.Contains("# TYPE mcp_tool_calls_total counter\n# HELP mcp_tool_call_duration_seconds", text, StringComparison.Ordinal);
        Assert.Contains("mcp_sessions_active 0\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("{", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Label_values_escape_backslash_quote_and_newline()
    {
        _metrics.RecordRequest("p", "we\"ird\\me\nthod", "ok");

        var text = new PrometheusExporter(_metrics, includeProcess: false).Render();

        Assert.Contains("mcp_requests_total{profile=\"p\",method=\"we\\\"ird\\\\me\\nthod\",outcome=\"ok\"} 1\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Durations_on_a_bucket_bound_count_in_that_bucket_and_bad_values_count_as_zero()
    {
        _metrics.RecordToolCall("p", "s", "t", "ok", 0.001);
        _metrics.RecordToolCall("p", "s", "t", "ok", double.NaN);
        _metrics.RecordToolCall("p", "s", "t", "ok", -1);

        var text = new PrometheusExporter(_metrics, includeProcess: false).Render();

        Assert.Contains("mcp_tool_call_duration_seconds_bucket{profile=\"p\",server=\"s\",tool=\"t\",le=\"0.00005\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("mcp_tool_call_duration_seconds_bucket{profile=\"p\",server=\"s\",tool=\"t\",le=\"0.0005\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("mcp_tool_call_duration_seconds_bucket{profile=\"p\",server=\"s\",tool=\"t\",le=\"0.001\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("mcp_tool_call_duration_seconds_sum{profile=\"p\",server=\"s\",tool=\"t\"} 0.001\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Past_the_series_limit_new_label_sets_share_one_overflow_series()
    {
        var map = new SeriesMap<string, MetricCell>(static () => new MetricCell(), "_overflow", limit: 2);

        map.Get("a").Increment();
        map.Get("b").Increment();
        map.Get("c").Increment();
        map.Get("d").Increment();
        map.Get("a").Increment();

        var values = map.Snapshot().ToDictionary(p => p.Key, p => p.Value.Value);
        Assert.Equal(
            new Dictionary<string, long>
            {
                ["a"] = 2,
                ["b"] = 1,
                ["_overflow"] = 2,
            },
            values
        );
    }

    [Fact]
    public void Concurrent_recording_loses_no_counts()
    {
        Parallel.For(0, 8, _ =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                _metrics.RecordToolCall("p", "s", "t", "ok", 0.5);
            }
        });

        var text = new PrometheusExporter(_metrics, includeProcess: false).Render();
        Assert.Contains("mcp_tool_calls_total{profile=\"p\",server=\"s\",tool=\"t\",outcome=\"ok\"} 80000\n", text, StringComparison.Ordinal);
        Assert.Contains("mcp_tool_call_duration_seconds_sum{profile=\"p\",server=\"s\",tool=\"t\"} 40000\n", text, StringComparison.Ordinal);
        Assert.Contains("mcp_tool_call_duration_seconds_count{profile=\"p\",server=\"s\",tool=\"t\"} 80000\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Process_and_runtime_metrics_are_included()
    {
        var text = new PrometheusExporter(_metrics).Render();

        string[] families =
        [
            "process_cpu_seconds_total counter",
            "process_resident_memory_bytes gauge",
            "process_virtual_memory_bytes gauge",
            "process_start_time_seconds gauge",
            "process_open_fds gauge",
            "process_max_fds gauge",
            "dotnet_gc_collections_total counter",
            "dotnet_gc_heap_bytes gauge",
            "dotnet_threadpool_threads gauge",
        ];
        foreach (var family in families)
        {
            Assert.Contains($"# TYPE {family}\n", text, StringComparison.Ordinal);
        }

        Assert.Contains("dotnet_gc_collections_total{generation=\"0\"} ", text, StringComparison.Ordinal);
        var start = double.Parse(
            Line(text, "process_start_time_seconds ")["process_start_time_seconds ".Length..],
            System.Globalization.CultureInfo.InvariantCulture
        );
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        Assert.InRange(start, now - 86_400, now + 1);
        Assert.True(
            long.Parse(
                Line(text, "process_resident_memory_bytes ")["process_resident_memory_bytes ".Length..],
                System.Globalization.CultureInfo.InvariantCulture
            ) > 1_000_000
        );
    }

    private static string Line(string text, string prefix) => text.Split('\n').Single(line => line.StartsWith(prefix, StringComparison.Ordinal));

    [Fact]
    public async Task Promtool_accepts_the_output()
    {
        RecordSample();
        _metrics.RecordRequest("p", "we\"ird\\me\nthod", "ok");
        var text = new PrometheusExporter(_metrics).Render();

        var promtool = Promtool.PathOrSkip();

        var start = new ProcessStartInfo(promtool, ["check", "metrics"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        process.StandardInput.Write(text);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        var printed = await output + await error;

        Assert.True(process.ExitCode == 0, $"promtool check metrics failed ({process.ExitCode}):\n{printed}\n--- input ---\n{text}");
        Assert.Equal("", printed);
    }

    [Fact]
    public void Instruments_publish_on_the_meter_for_other_listeners()
    {
        var seen = new List<string>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, _metrics.Meter))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>(
            (instrument, value, tags, _) =>
            {
                lock (seen)
                {
                    seen.Add($"{instrument.Name} {value} {string.Join(",", tags.ToArray().Select(t => $"{t.Key}={t.Value}"))}");
                }
            }
        );
        listener.SetMeasurementEventCallback<double>(
            (instrument, value, tags, _) =>
            {
                lock (seen)
                {
                    seen.Add($"{instrument.Name} {value} {string.Join(",", tags.ToArray().Select(t => $"{t.Key}={t.Value}"))}");
                }
            }
        );
        listener.SetMeasurementEventCallback<int>(
            (instrument, value, tags, _) =>
            {
                lock (seen)
                {
                    seen.Add($"{instrument.Name} {value} {string.Join(",", tags.ToArray().Select(t => $"{t.Key}={t.Value}"))}");
                }
            }
        );
        listener.Start();

        _metrics.RecordToolCall("p", "s", "t", "ok", 0.5);
        _metrics.UpstreamRestarted("s");
        _metrics.SetUpstreamUp("s", true);
        _metrics.SessionOpened();
        listener.RecordObservableInstruments();

        Assert.Equal(
            [
                "mcp_tool_calls 1 profile=p,server=s,tool=t,outcome=ok",
                "mcp_tool_call_duration 0.5 profile=p,server=s,tool=t",
                "mcp_upstream_restarts 1 server=s",
                "mcp_upstream_up 1 server=s",
                "mcp_sessions_active 1 ",
            ],
            seen
        );
        Assert.Equal(GatewayMetrics.MeterName, _metrics.Meter.Name);
    }

    [Fact]
    public async Task The_metrics_endpoint_serves_the_text_format_over_kestrel()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        await using var app = builder.Build();
        app.MapMetrics(_metrics);
        _metrics.UpstreamRestarted("files");
        await app.StartAsync(TestContext.Current.CancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();

        using var client = new HttpClient { BaseAddress = new Uri(address) };
        using var response = await client.GetAsync(new Uri("/metrics", UriKind.Relative), TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.Contains("\nmcp_upstream_restarts_total{server=\"files\"} 1\n", body, StringComparison.Ordinal);
        Assert.Contains("\nprocess_open_fds ", body, StringComparison.Ordinal);

        using var post = await client.PostAsync(new Uri("/metrics", UriKind.Relative), null, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
        await app.StopAsync(TestContext.Current.CancellationToken);
    }
}
