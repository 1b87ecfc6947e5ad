using System.Text.Json;

namespace Archestra.Gateway.Configuration;

/// <summary>The <c>telemetry</c> section and a profile's <c>telemetry</c> (content capture).</summary>
internal sealed partial class ConfigReader
{
    private static readonly string[] s_telemetryKeys =
    [
        "endpoint",
        "protocol",
        "headers",
        "serviceName",
        "sampleRatio",
        "metrics",
        "queueSize",
        "exportTimeoutSeconds",
    ];
    private static readonly string[] s_profileTelemetryKeys = ["captureContent"];

    private TelemetryConfig ReadTelemetry(JsonElement element, string path)
    {
        var config = new TelemetryConfig();
        if (!ExpectObject(element, path))
        {
            return config;
        }

        foreach (var property in KnownProperties(element, path, s_telemetryKeys))
        {
            var itemPath = Child(path, property.Name);
            switch (property.Name)
            {
                case "endpoint" when TryReadString(property.Value, itemPath, out var text):
                    if (Uri.TryCreate(text.Value, UriKind.Absolute, out var url) && url.Scheme is "http" or "https")
                    {
                        config = config with { Endpoint = url };
                    }
                    else
                    {
                        Error(itemPath, $"expected an absolute http:// or https:// URL of an OTLP collector, such as http://127.0.0.1:4318, got {text.Shown}");
                    }

                    break;
                case "protocol":
                    config = config with { Protocol = ReadChoice(property.Value, itemPath, "http/protobuf", "grpc") ?? config.Protocol };
                    break;
                case "headers":
                    config = config with { Headers = ReadTelemetryHeaders(property.Value, itemPath) };
                    break;
                case "serviceName" when TryReadString(property.Value, itemPath, out var name):
                    if (name.Value.Length == 0)
                    {
                        Error(itemPath, "expected a non-empty service name");
                    }
                    else
                    {
                        config = config with { ServiceName = name.Value };
                    }

                    break;
                case "sampleRatio" when TryReadNumber(property.Value, itemPath, out var ratio):
                    if (ratio is >= 0 and <= 1)
                    {
                        config = config with { SampleRatio = ratio };
                    }
                    else
                    {
                        Error(itemPath, "expected a number from 0 (no new traces) to 1 (every trace)");
                    }

                    break;
                case "metrics":
                    config = config with { Metrics = ReadBoolean(property.Value, itemPath, config.Metrics) };
                    break;
                case "queueSize" when TryReadInteger(property.Value, itemPath, 1, 1_000_000, out var size):
                    config = config with { QueueSize = (int)size };
                    break;
                case "exportTimeoutSeconds" when TryReadInteger(property.Value, itemPath, 1, 300, out var seconds):
                    config = config with { ExportTimeout = TimeSpan.FromSeconds(seconds) };
                    break;
            }
        }

        return config;
    }

    private Dictionary<string, string> ReadTelemetryHeaders(JsonElement element, string path)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (!ExpectObject(element, path))
        {
            return headers;
        }

        foreach (var property in element.EnumerateObject())
        {
            var itemPath = Child(path, property.Name);
            if (property.Name.Length == 0 || property.Name.AsSpan().ContainsAny(",=\r\n ") || !TryReadString(property.Value, itemPath, out var value))
            {
                if (property.Name.Length == 0 || property.Name.AsSpan().ContainsAny(",=\r\n "))
                {
                    Error(itemPath, "expected a header name without spaces, commas or '='");
                }

                continue;
            }

            if (value.Value.AsSpan().ContainsAny("\r\n"))
            {
                Error(itemPath, $"expected a header value on one line, got {value.Shown}");
                continue;
            }

            headers[property.Name] = value.Value;
        }

        return headers;
    }

    /// <summary>A profile's <c>telemetry</c>: whether its spans carry content.</summary>
    private bool ReadProfileTelemetry(JsonElement element, string path)
    {
        var capture = false;
        if (!ExpectObject(element, path))
        {
            return capture;
        }

        foreach (var property in KnownProperties(element, path, s_profileTelemetryKeys))
        {
            capture = ReadBoolean(property.Value, Child(path, property.Name), capture);
        }

        return capture;
    }
}
