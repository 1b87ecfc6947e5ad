namespace Archestra.Gateway.Configuration;

/// <summary>
/// The <c>telemetry</c> section: where traces and metrics go over OTLP. Every field has an OpenTelemetry variable
/// (OTEL_EXPORTER_OTLP_*, OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER(_ARG)) that wins over it, as
/// ARCHESTRA_DATABASE_URL wins over <c>database</c>. No endpoint in either: nothing is exported and nothing listens.
/// </summary>
public sealed record TelemetryConfig
{
    /// <summary>The collector's base URL (OTEL_EXPORTER_OTLP_ENDPOINT); http/protobuf adds <c>/v1/traces</c> and <c>/v1/metrics</c>.</summary>
    public Uri? Endpoint { get; init; }

    /// <summary><c>http/protobuf</c> (the OpenTelemetry default, port 4318) or <c>grpc</c> (port 4317).</summary>
    public string Protocol { get; init; } = "http/protobuf";

    /// <summary>Sent with every export (an API key of a hosted collector); values may be env:NAME.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    public string ServiceName { get; init; } = "archestra";

    /// <summary>The share of new traces recorded (parent-based: a sampled caller's trace is always followed). 1: all.</summary>
    public double SampleRatio { get; init; } = 1.0;

    /// <summary>Also export the metrics over OTLP (the Prometheus endpoint serves them either way).</summary>
    public bool Metrics { get; init; } = true;

    /// <summary>
    /// Finished spans waiting for export; when full, new spans are dropped and counted
    /// (archestra_telemetry_spans_dropped_total). 2048 is the OpenTelemetry SDK's OTEL_BSP_MAX_QUEUE_SIZE default.
    /// </summary>
    public int QueueSize { get; init; } = 2048;

    /// <summary>One export's deadline (OTEL_EXPORTER_OTLP_TIMEOUT); 10 s is the OpenTelemetry default.</summary>
    public TimeSpan ExportTimeout { get; init; } = TimeSpan.FromSeconds(10);
}
