using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Archestra.Policy;

namespace Archestra.Gateway.Configuration;

/// <summary>Profiles: their servers, tokens and per-tool settings.</summary>
internal sealed partial class ConfigReader
{
    private List<ProfileConfig> ReadProfiles(JsonElement element, string path)
    {
        var profiles = new List<ProfileConfig>();
        if (!ExpectObject(element, path))
        {
            return profiles;
        }

        foreach (var property in UniqueProperties(element, path, StringComparer.Ordinal))
        {
            var profilePath = Child(path, property.Name);
            var nameOk = CheckName(property.Name, profilePath, "profile");
            var profile = ReadProfile(property.Name, property.Value, profilePath);
            if (nameOk && profile is not null)
            {
                profiles.Add(profile);
            }
        }

        return profiles;
    }

    private ProfileConfig? ReadProfile(string name, JsonElement element, string path)
    {
        if (!ExpectObject(element, path))
        {
            return null;
        }

        var errorsBefore = _errors.Count;
        var serverNames = new List<string>();
        var hasServers = false;
        var tokens = new List<byte[]>();
        var toolPrefix = ToolPrefixMode.Multiplex;
        JsonElement? tools = null;
        string? toolsPath = null;
        ProfileLlmConfig? llm = null;
        JsonElement? selection = null;
        string? selectionPath = null;
        var builtinTools = BuiltinToolsMode.On;
        var dynamicTools = true;
        var captureContent = false;

        foreach (var property in KnownProperties(element, path, s_profileKeys))
        {
            var itemPath = Child(path, property.Name);
            switch (property.Name)
            {
                case "servers":
                    hasServers = true;
                    ReadProfileServers(property.Value, itemPath, serverNames);
                    break;
                case "tokens":
                    ReadTokens(property.Value, itemPath, tokens);
                    break;
                case "toolPrefix":
                    var mode = ReadChoice(property.Value, itemPath, "multiplex", "always");
                    toolPrefix = mode == "always" ? ToolPrefixMode.Always : ToolPrefixMode.Multiplex;
                    break;
                case "tools":
                    (tools, toolsPath) = (property.Value, itemPath);
                    break;
                case "llm":
                    llm = ReadProfileLlm(property.Value, itemPath);
                    break;
                case "toolSelection":
                    (selection, selectionPath) = (property.Value, itemPath);
                    break;
                case "builtinTools":
                    builtinTools = ReadBuiltinTools(property.Value, itemPath);
                    break;
                case "dynamicTools":
                    dynamicTools = ReadBoolean(property.Value, itemPath, true);
                    break;
                case "telemetry":
                    captureContent = ReadProfileTelemetry(property.Value, itemPath);
                    break;
            }
        }

        // Read after servers, whatever the key order, because tool names are checked against them.
        var toolSettings = tools is { } t
            ? ReadToolSettings(t, toolsPath!, serverNames, agentTools: llm is not null)
            : new Dictionary<string, ToolSettings>(StringComparer.Ordinal);
        var toolSelection = selection is { } sel ? ReadToolSelection(sel, selectionPath!, serverNames) : FrozenDictionary<string, ToolSelectionConfig>.Empty;

        // A profile that only proxies LLM calls needs no MCP servers.
        if (!hasServers && llm is null)
        {
            Error(path, "expected servers: a non-empty array of server names from $.mcpServers (or an llm section)");
        }

        return _errors.Count == errorsBefore
            ? new ProfileConfig
            {
                Name = name,
                Servers = serverNames,
                TokenHashes = tokens,
                ToolPrefix = toolPrefix,
                Tools = toolSettings.ToFrozenDictionary(StringComparer.Ordinal),
                Llm = llm,
                ToolSelection = toolSelection,
                BuiltinTools = builtinTools,
                DynamicTools = dynamicTools,
                CaptureContent = captureContent,
            }
            : null;
    }

    private void ReadProfileServers(JsonElement element, string path, List<string> names)
    {
        if (element.ValueKind != JsonValueKind.Array)
        {
            ExpectedKind(path, "a non-empty array of server names", element);
            return;
        }

        if (element.GetArrayLength() == 0)
        {
            Error(path, "expected at least one server name; a profile without servers serves nothing");
            return;
        }

        var index = 0;
        foreach (var item in element.EnumerateArray())
        {
            var itemPath = Index(path, index++);
            if (!TryReadString(item, itemPath, out var text))
            {
                continue;
            }

            if (names.Contains(text.Value))
            {
                Error(itemPath, $"server '{text.Value}' is listed twice");
                continue;
            }

            // Checked against every declared name, so a server with its own errors does not also show up as unknown.
            if (!_declaredServers.Contains(text.Value))
            {
                Error(
                    itemPath,
                    _declaredServers.Count == 0
                        ? $"unknown server '{text.Value}'; no servers are configured in $.mcpServers"
                        : $"unknown server '{text.Value}'; expected one of: {string.Join(", ", _declaredServers)}"
                );
                continue;
            }

            names.Add(text.Value);
        }
    }

    private void ReadTokens(JsonElement element, string path, List<byte[]> hashes)
    {
        if (element.ValueKind != JsonValueKind.Array)
        {
            ExpectedKind(path, "an array of env:NAME or sha256:HEX token references", element);
            return;
        }

        var index = 0;
        foreach (var item in element.EnumerateArray())
        {
            ReadSecretReference(item, Index(path, index++), hashes);
        }
    }

    /// <summary>One <c>env:NAME</c> (the variable holds the secret; only its SHA-256 is kept) or <c>sha256:HEX</c>.</summary>
    private void ReadSecretReference(JsonElement item, string itemPath, List<byte[]> hashes)
    {
        if (item.ValueKind != JsonValueKind.String)
        {
            ExpectedKind(itemPath, "a string (env:NAME or sha256:HEX)", item);
            return;
        }

        var raw = item.GetString()!;
        if (raw.StartsWith(EnvPrefix, StringComparison.Ordinal))
        {
            if (TryResolveEnv(raw, itemPath, out var token))
            {
                if (token.Length == 0)
                {
                    Error(itemPath, $"environment variable {raw[EnvPrefix.Length..]} is empty; expected a non-empty token");
                }
                else
                {
                    hashes.Add(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
                }
            }
        }
        else if (raw.StartsWith(Sha256Prefix, StringComparison.Ordinal))
        {
            var hex = raw.AsSpan(Sha256Prefix.Length);
            if (hex.Length == 64 && !hex.ContainsAnyExcept(s_hexDigits))
            {
                hashes.Add(Convert.FromHexString(hex));
            }
            else
            {
                Error(itemPath, "expected sha256: followed by 64 hex digits (the SHA-256 of the token)");
            }
        }
        else
        {
            Error(itemPath, "secrets are never written inline: use env:NAME or sha256:HEX");
        }
    }

    private static readonly System.Buffers.SearchValues<char> s_hexDigits = System.Buffers.SearchValues.Create("0123456789abcdefABCDEF");
}
