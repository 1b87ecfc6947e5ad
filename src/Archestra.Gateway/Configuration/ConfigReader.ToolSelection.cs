using System.Collections.Frozen;
using System.Text.Json;

namespace Archestra.Gateway.Configuration;

/// <summary>A profile's tool selection (<c>toolSelection</c>) and how it offers the built-in tools (<c>builtinTools</c>).</summary>
internal sealed partial class ConfigReader
{
    private static readonly string[] s_selectionKeys = ["allow", "deny"];

    /// <summary>Names up to 128 characters, like MCP's own tool names (SEP-986), plus the <c>*</c> wildcard.</summary>
    private const int MaxPatternLength = 128;

    private FrozenDictionary<string, ToolSelectionConfig> ReadToolSelection(JsonElement element, string path, List<string> servers)
    {
        var selection = new Dictionary<string, ToolSelectionConfig>(StringComparer.Ordinal);
        if (!ExpectObject(element, path))
        {
            return selection.ToFrozenDictionary(StringComparer.Ordinal);
        }

        foreach (var server in UniqueProperties(element, path, StringComparer.Ordinal))
        {
            var serverPath = Child(path, server.Name);
            if (!servers.Contains(server.Name))
            {
                Error(serverPath, $"server '{server.Name}' is not in this profile's servers ({string.Join(", ", servers)})");
                continue;
            }

            if (!ExpectObject(server.Value, serverPath))
            {
                continue;
            }

            List<string>? allow = null;
            var deny = new List<string>();
            foreach (var property in KnownProperties(server.Value, serverPath, s_selectionKeys))
            {
                var patterns = ReadStringArray(
                    property.Value,
                    Child(serverPath, property.Name),
                    static p => p.Length is > 0 and <= MaxPatternLength && !p.Contains("**", StringComparison.Ordinal),
                    $"a tool name of 1-{MaxPatternLength} characters where * matches any run of characters (no **)"
                );
                if (property.Name == "allow")
                {
                    allow = patterns;
                }
                else
                {
                    deny = patterns;
                }
            }

            if (!server.Value.EnumerateObject().Any())
            {
                Error(serverPath, "expected allow and/or deny: arrays of tool names, * matching any run of characters (e.g. \"get_*\")");
                continue;
            }

            selection[server.Name] = new ToolSelectionConfig(allow, deny);
        }

        return selection.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private BuiltinToolsMode ReadBuiltinTools(JsonElement element, string path) =>
        ReadChoice(element, path, "on", "off", "only") switch
        {
            "off" => BuiltinToolsMode.Off,
            "only" => BuiltinToolsMode.Only,
            _ => BuiltinToolsMode.On,
        };
}
