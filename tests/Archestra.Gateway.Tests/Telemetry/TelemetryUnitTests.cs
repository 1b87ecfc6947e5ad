using System.Diagnostics;
using System.Text;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Mcp;
using Archestra.Gateway.Telemetry;
using Archestra.Runtime.Buffers;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Trace;

namespace Archestra.Gateway.Tests.Telemetry;

/// <summary>The pieces without a listener: settings from the file and the variables, the _meta rewrite, the export queue.</summary>
public sealed class TelemetryUnitTests
{
    private static TelemetrySettings? Resolve(TelemetryConfig file, Dictionary<string, string> env, out List<string> errors)
    {
        errors = [];
        return TelemetrySettings.Resolve(file, name => env.GetValueOrDefault(name), errors);
    }

    [Fact]
    public void Without_an_endpoint_in_the_file_or_the_environment_nothing_is_exported()
    {
        Assert.Null(Resolve(new TelemetryConfig(), [], out var errors));
        Assert.Empty(errors);
    }

    [Fact]
    public void The_standard_variables_win_over_the_file_and_http_protobuf_gets_the_signal_paths()
    {
        var file = new TelemetryConfig { Endpoint = new Uri("http://file:4318"), ServiceName = "from-file" };
        var env = new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://collector:4318/",
            ["OTEL_SERVICE_NAME"] = "gw-eu",
            ["OTEL_EXPORTER_OTLP_HEADERS"] = "api-key=abc",
            ["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio",
            ["OTEL_TRACES_SAMPLER_ARG"] = "0.25",
        };

        var settings = Resolve(file, env, out var errors)!;

        Assert.Empty(errors);
        Assert.Equal("http://collector:4318/v1/traces", settings.TracesEndpoint!.ToString());
        Assert.Equal("http://collector:4318/v1/metrics", settings.MetricsEndpoint!.ToString());
        Assert.Equal("gw-eu", settings.ServiceName);
        Assert.Equal("api-key=abc", settings.Headers);
        Assert.IsType<ParentBasedSampler>(settings.Sampler);
        Assert.Equal(OtlpExportProtocol.HttpProtobuf, settings.Protocol);
    }

    [Fact]
    public void A_traces_endpoint_is_used_as_it_is_and_grpc_uses_the_base_endpoint_unchanged()
    {
        var grpc = Resolve(
            new TelemetryConfig
            {
                Endpoint = new Uri("http://collector:4317"),
                Protocol = "grpc",
                Metrics = false,
            },
            new() { ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "http://traces:9999/custom" },
            out _
        )!;

        Assert.Equal("http://traces:9999/custom", grpc.TracesEndpoint!.ToString());
        Assert.Null(grpc.MetricsEndpoint);
        Assert.Equal(OtlpExportProtocol.Grpc, grpc.Protocol);
        var plain = Resolve(new TelemetryConfig { Endpoint = new Uri("http://collector:4317"), Protocol = "grpc" }, [], out _)!;
        Assert.Equal("http://collector:4317/", plain.TracesEndpoint!.ToString());
    }

    [Theory]
    [InlineData("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "expected http/protobuf or grpc")]
    [InlineData("OTEL_TRACES_SAMPLER", "sometimes", "OTEL_TRACES_SAMPLER: expected always_on")]
    [InlineData("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "OTEL_EXPORTER_OTLP_ENDPOINT: expected an absolute http:// or https:// URL")]
    [InlineData("OTEL_EXPORTER_OTLP_TIMEOUT", "soon", "OTEL_EXPORTER_OTLP_TIMEOUT: expected a positive number of milliseconds")]
    public void A_variable_the_gateway_cannot_follow_is_named_in_the_error(string name, string value, string message)
    {
        var env = new Dictionary<string, string> { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://collector:4318", [name] = value };

        Assert.Null(Resolve(new TelemetryConfig(), env, out var errors));

        Assert.Contains(errors, e => e.Contains(message, StringComparison.Ordinal));
    }

    [Fact]
    public void Otel_sdk_disabled_turns_export_off_whatever_else_is_set()
    {
        var env = new Dictionary<string, string> { ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://collector:4318", ["OTEL_SDK_DISABLED"] = "true" };

        Assert.Null(Resolve(new TelemetryConfig(), env, out _));
    }

    [Fact]
    public void The_telemetry_section_is_read_and_checked_with_json_paths()
    {
        var good = ConfigLoader.LoadFromJson(
            """
            {"telemetry":{"endpoint":"http://otel:4318","protocol":"grpc","headers":{"x-api-key":"k"},"serviceName":"gw","sampleRatio":0.5,
              "metrics":false,"queueSize":100,"exportTimeoutSeconds":3},
             "mcpServers":{"s":{"command":"x"}},"profiles":{"p":{"servers":["s"],"telemetry":{"captureContent":true}}}}
            """,
            "t.json",
            _ => null
        );
        Assert.True(good.Succeeded, string.Join("\n", good.Errors));
        var t = good.Config.Telemetry;
        Assert.Equal(
            ("http://otel:4318/", "grpc", "gw", 0.5, false, 100),
            (t.Endpoint!.ToString(), t.Protocol, t.ServiceName, t.SampleRatio, t.Metrics, t.QueueSize)
        );
        Assert.Equal(TimeSpan.FromSeconds(3), t.ExportTimeout);
        Assert.Equal("k", t.Headers["x-api-key"]);
        Assert.True(Assert.Single(good.Config.Profiles).CaptureContent);

        var bad = ConfigLoader.LoadFromJson("""{"telemetry":{"endpoint":"otel:4318","sampleRatio":2,"colour":"red"}}""", "t.json", _ => null);
        Assert.False(bad.Succeeded);
        Assert.Contains(bad.Errors, e => e.Contains("$.telemetry.endpoint", StringComparison.Ordinal));
        Assert.Contains(bad.Errors, e => e.Contains("$.telemetry.sampleRatio", StringComparison.Ordinal));
        Assert.Contains(bad.Errors, e => e.Contains("colour", StringComparison.Ordinal));
    }

    /// <summary>Rewrites <paramref name="json"/> as it goes upstream under a client span; returns the bytes and the span's traceparent.</summary>
    private static (string Json, string TraceParent) Inject(string json)
    {
        using var activity = new Activity(McpTelemetry.ClientOperation);
        activity.SetIdFormat(ActivityIdFormat.W3C);
        activity.ActivityTraceFlags = ActivityTraceFlags.Recorded;
        activity.Start();
        var bytes = Encoding.UTF8.GetBytes(json);
        var buffer = BytePool.Rent(bytes.Length);
        bytes.CopyTo(buffer, 0);
        var length = bytes.Length;
        McpTelemetry.InjectMeta(ref buffer, ref length);
        var result = Encoding.UTF8.GetString(buffer, 0, length);
        BytePool.Return(buffer);
        return (result, TraceContext.Format(activity));
    }

    [Theory]
    [InlineData(
        """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"a":1}}}""",
        """{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"traceparent":"TP"},"name":"t","arguments":{"a":1}}}"""
    )]
    [InlineData(
        """{"jsonrpc":"2.0","id":1,"method":"ping","params":{}}""",
        """{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"traceparent":"TP"}}}"""
    )]
    [InlineData(
        """{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":{"progressToken":5}}}""",
        """{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":{"traceparent":"TP","progressToken":5}}}"""
    )]
    [InlineData(
        """{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":{ }}}""",
        """{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":{"traceparent":"TP" }}}"""
    )]
    [InlineData(
        """{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}}""",
        """{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":{"traceparent":"TP"}}}"""
    )]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"x"}""", """{"jsonrpc":"2.0","id":1,"method":"x"}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}""", """{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":"odd"}}""", """{"jsonrpc":"2.0","id":1,"method":"x","params":{"_meta":"odd"}}""")]
    public void Only_the_meta_traceparent_member_is_added_or_replaced(string request, string expected)
    {
        var (json, traceparent) = Inject(request);

        Assert.Equal(expected.Replace("TP", traceparent, StringComparison.Ordinal), json);
    }

    [Fact]
    public void Without_a_client_span_the_request_is_not_touched()
    {
        var json = """{"jsonrpc":"2.0","id":1,"method":"ping","params":{}}""";
        var buffer = BytePool.Rent(64);
        var length = Encoding.UTF8.GetBytes(json, buffer);
        var before = buffer;

        McpTelemetry.InjectMeta(ref buffer, ref length);

        Assert.Same(before, buffer);
        Assert.Equal(json, Encoding.UTF8.GetString(buffer, 0, length));
        BytePool.Return(buffer);
    }

    /// <summary>An exporter that never finishes its first export until released: a collector that does not answer.</summary>
    private sealed class StuckExporter : BaseExporter<Activity>
    {
        public ManualResetEventSlim Release { get; } = new();

        public ManualResetEventSlim Entered { get; } = new();

        public override ExportResult Export(in Batch<Activity> batch)
        {
            Entered.Set();
            Release.Wait(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
            return ExportResult.Success;
        }
    }

    [Fact]
    public void A_stuck_exporter_never_blocks_ending_a_span_the_overflow_is_dropped_and_counted()
    {
        var exporter = new StuckExporter();
        using var processor = new BoundedExportProcessor(exporter, capacity: 4);
        Activity Span()
        {
            var a = new Activity("x");
            a.ActivityTraceFlags = ActivityTraceFlags.Recorded;
            return a.Start();
        }

        processor.OnEnd(Span());
        Assert.True(exporter.Entered.Wait(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken), "the export thread took the first span");
        for (var i = 0; i < 10; i++)
        {
            processor.OnEnd(Span());
        }

        Assert.Equal(6, processor.Dropped);
        var text = new StringBuilder();
        processor.WritePrometheus(text);
        Assert.Contains("archestra_telemetry_spans_dropped_total{reason=\"queue_full\"} 6", text.ToString(), StringComparison.Ordinal);
        exporter.Release.Set();
        Assert.True(processor.Shutdown(10_000));
        Assert.Equal(5, processor.Exported);
    }

    [Fact]
    public void A_json_log_line_carries_the_current_spans_ids()
    {
        using var output = new MemoryStream();
        using var provider = new JsonLineLoggerProvider(new NonClosingStream(output));
        using var activity = new Activity("log-test").SetIdFormat(ActivityIdFormat.W3C).Start();

        provider.CreateLogger("Archestra.Test").LogWarning(new EventId(42), "Upstream {Name} is down", "fake");

        string text;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while ((text = Encoding.UTF8.GetString(output.ToArray())).Length == 0 && DateTime.UtcNow < deadline)
        {
            Thread.Sleep(10);
        }

        Assert.EndsWith("\n", text, StringComparison.Ordinal);
        using var line = System.Text.Json.JsonDocument.Parse(text);
        var root = line.RootElement;
        Assert.Equal("warning", root.GetProperty("level").GetString());
        Assert.Equal("Archestra.Test", root.GetProperty("category").GetString());
        Assert.Equal("Upstream fake is down", root.GetProperty("message").GetString());
        Assert.Equal(42, root.GetProperty("event_id").GetInt32());
        Assert.Equal(activity.TraceId.ToHexString(), root.GetProperty("trace_id").GetString());
        Assert.Equal(activity.SpanId.ToHexString(), root.GetProperty("span_id").GetString());
        Assert.True(root.TryGetProperty("timestamp", out _));
    }

    /// <summary>MemoryStream.ToArray still works after writes; this only keeps the writer's Flush from failing.</summary>
    private sealed class NonClosingStream(MemoryStream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position
        {
            get => inner.Position;
            set => throw new NotSupportedException();
        }

        public override void Flush() { }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count)
        {
            lock (inner)
            {
                inner.Write(buffer, offset, count);
            }
        }
    }
}
