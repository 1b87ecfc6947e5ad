namespace Archestra.Gateway.Metrics;

public static class MetricsEndpoint
{
    /// <summary>
    /// Maps <c>GET /metrics</c> in the Prometheus text format. Restrict it to the metrics listener with
    /// <c>RequireHost</c> on the result when the app serves several ports.
    /// </summary>
    public static IEndpointConventionBuilder MapMetrics(this IEndpointRouteBuilder endpoints, GatewayMetrics metrics, string pattern = "/metrics")
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var exporter = new PrometheusExporter(metrics);
        RequestDelegate handler = context =>
        {
            var response = context.Response;
            response.ContentType = PrometheusExporter.ContentType;
            response.Headers.CacheControl = "no-store";
            return response.WriteAsync(exporter.Render(), context.RequestAborted);
        };
        return endpoints.MapGet(pattern, handler);
    }
}
