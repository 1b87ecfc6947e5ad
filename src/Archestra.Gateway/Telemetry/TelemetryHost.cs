using System.Diagnostics;
using System.Globalization;
using Archestra.Gateway.Configuration;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Archestra.Gateway.Telemetry;

/// <summary>
/// Where traces and metrics go, from the <c>telemetry</c> section and the standard OpenTelemetry variables (which win).
/// </summary>
/// <param name="TracesEndpoint">The full URL spans are posted to; null: no trace export.</param>
/// <param name="MetricsEndpoint">The full URL metrics are posted to; null: no metric export.</param>
internal sealed record TelemetrySettings(
    Uri? TracesEndpoint,
    Uri? MetricsEndpoint,
    OtlpExportProtocol Protocol,
    string? Headers,
    string ServiceName,
    string? ResourceAttributes,
    Sampler Sampler,
    int QueueSize,
    TimeSpan ExportTimeout
)
{
    /// <summary>The settings, or the reasons they are invalid (a bad variable stops the start like a bad file).</summary>
    public static TelemetrySettings? Resolve(TelemetryConfig file, Func<string, string?> getEnv, List<string> errors)
    {
        string? Env(string name) => getEnv(name) is { Length: > 0 } value ? value.Trim() : null;

        if (Env("OTEL_SDK_DISABLED") is { } disabled && disabled.Equals("true", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var protocolText = Env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") ?? Env("OTEL_EXPORTER_OTLP_PROTOCOL") ?? file.Protocol;
        OtlpExportProtocol protocol;
        switch (protocolText)
        {
            case "grpc":
                protocol = OtlpExportProtocol.Grpc;
                break;
            case "http/protobuf":
                protocol = OtlpExportProtocol.HttpProtobuf;
                break;
            default:
                errors.Add($"OTEL_EXPORTER_OTLP_PROTOCOL: expected http/protobuf or grpc, got '{protocolText}' (http/json is not supported)");
                return null;
        }

        var baseUrl = Url(Env("OTEL_EXPORTER_OTLP_ENDPOINT"), "OTEL_EXPORTER_OTLP_ENDPOINT", errors) ?? file.Endpoint;
        var traces = Url(Env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", errors) ?? SignalUrl(baseUrl, protocol, "traces");
        var metrics = Url(Env("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"), "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", errors) ?? SignalUrl(baseUrl, protocol, "metrics");
        if (Env("OTEL_TRACES_EXPORTER") is "none")
        {
            traces = null;
        }

        if (Env("OTEL_METRICS_EXPORTER") is "none" || (!file.Metrics && Env("OTEL_METRICS_EXPORTER") is null))
        {
            metrics = null;
        }

        var headers = Env("OTEL_EXPORTER_OTLP_HEADERS");
        if (headers is null && file.Headers.Count > 0)
        {
            headers = string.Join(",", file.Headers.Select(static h => $"{h.Key}={Uri.EscapeDataString(h.Value)}"));
        }

        var timeout = file.ExportTimeout;
        if (Env("OTEL_EXPORTER_OTLP_TIMEOUT") is { } ms)
        {
            if (int.TryParse(ms, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0)
            {
                timeout = TimeSpan.FromMilliseconds(value);
            }
            else
            {
                errors.Add($"OTEL_EXPORTER_OTLP_TIMEOUT: expected a positive number of milliseconds, got '{ms}'");
            }
        }

        var sampler = ReadSampler(Env("OTEL_TRACES_SAMPLER"), Env("OTEL_TRACES_SAMPLER_ARG"), file.SampleRatio, errors);
        var queue = file.QueueSize;
        if (Env("OTEL_BSP_MAX_QUEUE_SIZE") is { } q)
        {
            if (int.TryParse(q, NumberStyles.None, CultureInfo.InvariantCulture, out var size) && size > 0)
            {
                queue = size;
            }
            else
            {
                errors.Add($"OTEL_BSP_MAX_QUEUE_SIZE: expected a positive integer, got '{q}'");
            }
        }

        return errors.Count > 0 || (traces is null && metrics is null)
            ? null
            : new TelemetrySettings(
                traces,
                metrics,
                protocol,
                headers,
                Env("OTEL_SERVICE_NAME") ?? file.ServiceName,
                Env("OTEL_RESOURCE_ATTRIBUTES"),
                sampler!,
                queue,
                timeout
            );
    }

    private static Uri? Url(string? value, string name, List<string> errors)
    {
        if (value is null)
        {
            return null;
        }

        if (Uri.TryCreate(value, UriKind.Absolute, out var url) && url.Scheme is "http" or "https")
        {
            return url;
        }

        errors.Add($"{name}: expected an absolute http:// or https:// URL, got '{value}'");
        return null;
    }

    /// <summary>OTLP exporter spec: over HTTP the base endpoint gets <c>/v1/{signal}</c>; gRPC uses it as it is.</summary>
    private static Uri? SignalUrl(Uri? baseUrl, OtlpExportProtocol protocol, string signal) =>
        baseUrl is null ? null
        : protocol == OtlpExportProtocol.Grpc ? baseUrl
        : new Uri(baseUrl.AbsoluteUri.TrimEnd('/') + "/v1/" + signal);

    /// <summary>The sampler OTEL_TRACES_SAMPLER names (SDK environment variables spec); the file's ratio otherwise.</summary>
    private static Sampler? ReadSampler(string? name, string? argument, double fileRatio, List<string> errors)
    {
        var ratio = fileRatio;
        if (argument is not null)
        {
            if (double.TryParse(argument, NumberStyles.Float, CultureInfo.InvariantCulture, out var parsed) && parsed is >= 0 and <= 1)
            {
                ratio = parsed;
            }
            else if (name is "traceidratio" or "parentbased_traceidratio")
            {
                errors.Add($"OTEL_TRACES_SAMPLER_ARG: expected a number from 0 to 1, got '{argument}'");
                return null;
            }
        }

        switch (name)
        {
            case null:
                return ratio >= 1 ? new ParentBasedSampler(new AlwaysOnSampler()) : new ParentBasedSampler(new TraceIdRatioBasedSampler(ratio));
            case "always_on":
                return new AlwaysOnSampler();
            case "always_off":
                return new AlwaysOffSampler();
            case "traceidratio":
                return new TraceIdRatioBasedSampler(ratio);
            case "parentbased_always_on":
                return new ParentBasedSampler(new AlwaysOnSampler());
            case "parentbased_always_off":
                return new ParentBasedSampler(new AlwaysOffSampler());
            case "parentbased_traceidratio":
                return new ParentBasedSampler(new TraceIdRatioBasedSampler(ratio));
            default:
                errors.Add(
                    $"OTEL_TRACES_SAMPLER: expected always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or "
                        + $"parentbased_traceidratio, got '{name}'"
                );
                return null;
        }
    }

    public OtlpExporterOptions ExporterOptions(Uri endpoint) =>
        new()
        {
            Endpoint = endpoint,
            Protocol = Protocol,
            Headers = Headers,
            TimeoutMilliseconds = (int)ExportTimeout.TotalMilliseconds,
        };
}

/// <summary>
/// The running OpenTelemetry SDK: a tracer provider on <see cref="ArchestraTelemetry.Source"/> with the bounded export
/// queue, and a meter provider exporting the gateway's meter periodically. Present only when an endpoint is configured
/// (or a test hands in an exporter); otherwise nothing listens and the hooks cost a null check.
/// </summary>
internal sealed class TelemetryHost : IDisposable
{
    /// <summary>OTEL_METRIC_EXPORT_INTERVAL's default (60 s); the variable, when set, wins.</summary>
    private const int DefaultMetricIntervalMilliseconds = 60_000;

    private readonly TracerProvider? _traces;
    private readonly MeterProvider? _metrics;

    private TelemetryHost(TracerProvider? traces, MeterProvider? metrics, BoundedExportProcessor? processor)
    {
        _traces = traces;
        _metrics = metrics;
        Processor = processor;
    }

    /// <summary>The export queue (for its drop counters on /metrics); null without trace export.</summary>
    public BoundedExportProcessor? Processor { get; }

    /// <summary>Starts export per <paramref name="settings"/>; <paramref name="exporter"/> replaces the OTLP trace exporter (tests).</summary>
    public static TelemetryHost Start(TelemetrySettings settings, BaseExporter<Activity>? exporter = null, Func<string, string?>? getEnv = null)
    {
        var resource = ResourceBuilder.CreateEmpty().AddService(settings.ServiceName, serviceVersion: GatewayInfo.Version);
        if (settings.ResourceAttributes is { } attributes)
        {
            resource.AddAttributes(ParseAttributes(attributes));
        }

        TracerProvider? traces = null;
        BoundedExportProcessor? processor = null;
        exporter ??= settings.TracesEndpoint is { } tracesUrl ? new OtlpTraceExporter(settings.ExporterOptions(tracesUrl)) : null;
        if (exporter is not null)
        {
            processor = new BoundedExportProcessor(exporter, settings.QueueSize);
            traces = Sdk.CreateTracerProviderBuilder()
                .SetResourceBuilder(resource)
                .SetSampler(settings.Sampler)
                .AddSource(ArchestraTelemetry.Name)
                .AddProcessor(processor)
                .Build();
        }

        MeterProvider? metrics = null;
        if (settings.MetricsEndpoint is { } metricsUrl)
        {
            var interval =
                (getEnv ?? Environment.GetEnvironmentVariable)("OTEL_METRIC_EXPORT_INTERVAL") is { } text
                && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
                && ms > 0
                    ? ms
                    : DefaultMetricIntervalMilliseconds;
            var reader = new PeriodicExportingMetricReader(new OtlpMetricExporter(settings.ExporterOptions(metricsUrl)), interval);
            metrics = Sdk.CreateMeterProviderBuilder().SetResourceBuilder(resource).AddMeter(ArchestraTelemetry.Name).AddReader(reader).Build();
        }

        // HttpClient writes the context of the nearest Archestra span to providers and HTTP MCP servers.
        DistributedContextPropagator.Current = new ArchestraPropagator();
        return new TelemetryHost(traces, metrics, processor);
    }

    /// <summary>OTEL_RESOURCE_ATTRIBUTES: <c>key=value</c> pairs separated by commas, values percent-encoded (W3C Baggage format).</summary>
    internal static IEnumerable<KeyValuePair<string, object>> ParseAttributes(string text)
    {
        var list = new List<KeyValuePair<string, object>>();
        foreach (var pair in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                list.Add(new(pair[..eq].Trim(), Uri.UnescapeDataString(pair[(eq + 1)..].Trim())));
            }
        }

        return list;
    }

    /// <summary>How long stopping waits for queued spans and the last metrics to be exported; a hung collector costs no more.</summary>
    private const int ShutdownMilliseconds = 5_000;

    /// <summary>Exports what is queued (for at most <see cref="ShutdownMilliseconds"/> each) and stops listening.</summary>
    public void Dispose()
    {
        _traces?.Shutdown(ShutdownMilliseconds);
        _traces?.Dispose();
        _metrics?.Shutdown(ShutdownMilliseconds);
        _metrics?.Dispose();
    }
}

/// <summary>An OTEL_* variable the gateway cannot follow: the start stops, as for an invalid configuration file.</summary>
internal sealed class TelemetryConfigException(IReadOnlyList<string> errors) : Exception(string.Join("; ", errors));
