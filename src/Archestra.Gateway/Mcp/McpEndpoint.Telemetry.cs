namespace Archestra.Gateway.Mcp;

internal sealed partial class McpEndpoint
{
    /// <summary>The dispatch inside the request's server span; taken only when a listener wants spans or the duration metric.</summary>
    private async Task DispatchTracedAsync(HttpContext context, GatewayProfile profile, byte[] body, int length, AcceptedTypes accepts)
    {
        var scope = McpTelemetry.StartServer(context, profile.Name, _gateway.Config, body.AsSpan(0, length));
        try
        {
            await DispatchAsync(context, profile, body, length, accepts).ConfigureAwait(false);
        }
        finally
        {
            McpTelemetry.StopServer(scope);
        }
    }
}
