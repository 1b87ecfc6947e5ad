using System.Text.Json;
using Archestra.Policy;

namespace Archestra.Gateway.Configuration;

/// <summary>
/// Single resources as the admin API receives them: the same readers as the file, so the API accepts exactly what
/// the file accepts and reports problems at the JSON path of the request body (<c>$</c> is the body).
/// </summary>
internal sealed partial class ConfigReader
{
    private readonly List<(string Path, string Message)> _pathErrors = [];

    /// <summary>Every error as (JSON path, message), without the source prefix.</summary>
    public IReadOnlyList<(string Path, string Message)> PathErrors => _pathErrors;

    /// <summary>Adds an error for a rule the admin API checks itself.</summary>
    public void AddError(string path, string message) => Error(path, message);

    /// <summary>One <c>mcpServers</c> entry: <paramref name="element"/> is its object (without a name key).</summary>
    public McpServerConfig? ReadServerResource(string name, JsonElement element, string namePath)
    {
        var nameOk = CheckName(name, namePath, "server");
        if (nameOk && (name.Contains("__", StringComparison.Ordinal) || name.EndsWith('_')))
        {
            Error(namePath, "a server name must not contain '__' or end with '_': '__' separates server and tool in tool names ({server}__{tool})");
            nameOk = false;
        }

        var server = ReadServer(name, element, "$");
        return nameOk ? server : null;
    }

    /// <summary>
    /// One profile; its servers must be among <paramref name="declaredServers"/> and its <c>llm</c> section's
    /// providers among <paramref name="llmProviders"/> (the file's and the API's).
    /// </summary>
    public ProfileConfig? ReadProfileResource(
        string name,
        JsonElement element,
        string namePath,
        IEnumerable<string> declaredServers,
        IEnumerable<LlmProviderConfig>? llmProviders = null
    )
    {
        _declaredServers.AddRange(declaredServers);
        foreach (var provider in llmProviders ?? [])
        {
            _llmProviders.Add(provider);
            _declaredLlmProviders.Add(provider.Name);
        }

        var nameOk = CheckName(name, namePath, "profile");
        var profile = ReadProfile(name, element, "$");
        return nameOk ? profile : null;
    }

    /// <summary>One policy object (with its id).</summary>
    public PolicyDefinition? ReadPolicyResource(JsonElement element) => ReadPolicy(element, "$");
}
