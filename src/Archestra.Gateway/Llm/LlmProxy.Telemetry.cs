namespace Archestra.Gateway.Llm;

internal sealed partial class LlmProxy
{
    /// <summary>A generation request inside its span; taken only when a listener wants spans or the GenAI metrics.</summary>
    private static async Task RunTracedAsync(LlmExchange exchange, string profile, LlmUpstream upstream)
    {
        using var activity = LlmTelemetry.StartRequest(exchange.Context, profile, upstream);
        await exchange.RunAsync().ConfigureAwait(false);
    }
}
