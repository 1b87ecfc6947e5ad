// TEMPORARY stub until the metrics work is merged.
using Microsoft.AspNetCore.Builder;
namespace Archestra.Gateway.Metrics;
internal sealed class GatewayMetrics
{
    public void RecordToolCall(string profile, string server, string tool, string outcome, double seconds) { }
    public void SetUpstreamUp(string server, bool up) { }
    public void SessionOpened() { }
    public void SessionClosed() { }
    public void UpstreamRestarted(string server) { }
    public void UpstreamListFailed(string server) { }
    public void RecordRequest(string profile, string method, string outcome) { }
}
internal static class MetricsEndpoint
{
    public static void MapMetrics(this WebApplication app, GatewayMetrics metrics, Func<int> sessions) { }
}
