namespace Archestra.Gateway.Admin;

/// <summary>The LLM objects: providers (keys encrypted), prices, limits, optimization rules.</summary>
internal sealed partial class AdminHandlers
{
    private void AddLlmRoutes(List<AdminRoute> routes)
    {
        _ = routes;
    }
}
