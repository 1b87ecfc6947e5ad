using Archestra.Gateway.Metrics;
using Archestra.Storage;

namespace Archestra.Gateway.Tests.Metrics;

public sealed class AuditMetricsTests
{
    [Fact]
    public void The_audit_metrics_are_rendered_on_the_gateway_prometheus_endpoint()
    {
        using var gateway = new GatewayMetrics();
        using var audit = new AuditMetrics();
        gateway.AddSource(audit);
        audit.RecordWritten(1000, 0.004);
        audit.RecordSpilled(7);
        audit.RecordError();
        var text = new PrometheusExporter(gateway).Render();
        Assert.Contains("# TYPE archestra_audit_queue_depth gauge\narchestra_audit_queue_depth 0\n", text, StringComparison.Ordinal);
        Assert.Contains("archestra_audit_records_written_total 1000\n", text, StringComparison.Ordinal);
        Assert.Contains("archestra_audit_spilled_total 7\n", text, StringComparison.Ordinal);
        Assert.Contains("archestra_audit_write_errors_total 1\n", text, StringComparison.Ordinal);
        Assert.Contains("archestra_audit_batch_duration_seconds_bucket{le=\"0.005\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("archestra_audit_batch_duration_seconds_bucket{le=\"0.0025\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("archestra_audit_batch_duration_seconds_count 1\n", text, StringComparison.Ordinal);
    }
}
