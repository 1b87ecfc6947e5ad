using System.Text;

namespace Archestra.Gateway.Metrics;

/// <summary>
/// Metrics kept outside <see cref="GatewayMetrics"/> (e.g. the audit writer's) that the Prometheus endpoint renders
/// after the gateway's own. Register with <see cref="GatewayMetrics.AddSource"/>.
/// </summary>
public interface IPrometheusSource
{
    /// <summary>Appends complete metric families (HELP, TYPE and samples) in the text exposition format.</summary>
    void WritePrometheus(StringBuilder builder);
}
