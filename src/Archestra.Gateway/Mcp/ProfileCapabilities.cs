using System.Text;
using Archestra.Runtime.JsonRpc;

namespace Archestra.Gateway.Mcp;

/// <summary>What a profile offers, merged over its servers: the same for initialize (2025) and server/discover (2026-07-28).</summary>
internal readonly record struct ProfileCapabilities(bool Prompts, bool Resources, bool Subscribe, bool Logging, bool Completions, string? Instructions)
{
    public static ProfileCapabilities Of(GatewayProfile profile)
    {
        bool prompts = false,
            resources = false,
            subscribe = false,
            logging = false,
            completions = false;
        var instructions = new StringBuilder();
        foreach (var server in profile.Servers)
        {
            var c = server.Capabilities;
            prompts |= c.Prompts;
            resources |= c.Resources;
            subscribe |= c.ResourcesSubscribe;
            logging |= c.Logging;
            completions |= c.Completions;
            var text = ReadInstructions(server.Upstream.InitializeResult);
            if (!string.IsNullOrWhiteSpace(text))
            {
                if (instructions.Length > 0)
                {
                    instructions.Append("\n\n");
                }

                instructions.Append(profile.Prefixed ? $"[{server.Name}] {text}" : text);
            }
        }

        return new ProfileCapabilities(prompts, resources, subscribe, logging, completions, instructions.Length > 0 ? instructions.ToString() : null);
    }

    private static string? ReadInstructions(byte[]? initializeResult) =>
        initializeResult is null ? null : JsonObjectScan.GetString(initializeResult, "instructions"u8);
}
