using System.Text.Json;
using Archestra.Policy;

namespace Archestra.Gateway.Configuration;

/// <summary>
/// The <c>policies</c> section and the per-tool <c>tools</c> settings of each profile. The reader checks
/// structure only (types, required and unknown keys); what the values mean (operators, actions, paths,
/// regexes, which servers exist) is checked by <see cref="PolicyCompiler"/>, the one validator shared
/// with the admin API.
/// </summary>
internal sealed partial class ConfigReader
{
    private static readonly string[] s_policiesKeys = ["toolInvocation", "trustedData"];
    private static readonly string[] s_policyKeys = ["id", "tool", "profiles", "conditions", "action", "reason"];
    private static readonly string[] s_conditionKeys = ["key", "operator", "value"];
    private static readonly string[] s_toolSettingKeys = ["allowUsageWhenUntrustedDataIsPresent", "resultTreatment"];

    /// <summary>Where each policy was written, by id, so compile errors can name the JSON path.</summary>
    public Dictionary<string, string> PolicyPaths { get; } = new(StringComparer.Ordinal);

    private static List<ProfilePolicyInput> ProfileInputs(List<ProfileConfig> profiles)
    {
        var inputs = new List<ProfilePolicyInput>(profiles.Count);
        foreach (var profile in profiles)
        {
            inputs.Add(new ProfilePolicyInput(profile.Name, profile.Servers, profile.Tools, AgentTools: profile.Llm is not null));
        }

        return inputs;
    }

    /// <param name="agentTools">The profile has an <c>llm</c> section: its agents' own tools may have any name.</param>
    private Dictionary<string, ToolSettings> ReadToolSettings(JsonElement element, string path, List<string> servers, bool agentTools)
    {
        var settings = new Dictionary<string, ToolSettings>(StringComparer.Ordinal);
        if (!ExpectObject(element, path))
        {
            return settings;
        }

        foreach (var tool in UniqueProperties(element, path, StringComparer.Ordinal))
        {
            var toolPath = Child(path, tool.Name);
            var separator = tool.Name.IndexOf("__", StringComparison.Ordinal);
            var agentTool = agentTools && tool.Name.Length > 0 && !tool.Name.Contains('*', StringComparison.Ordinal);
            if (tool.Name != "*" && !agentTool && (separator <= 0 || separator + 2 == tool.Name.Length))
            {
                Error(
                    toolPath,
                    "expected a namespaced tool name {server}__{tool} (e.g. files__read_file), {server}__* for every tool of a server, or "
                        + "* for every tool of the profile"
                        + (agentTools ? "; an agent's own tool may have any name without *" : "")
                );
                continue;
            }

            var server = tool.Name == "*" || agentTool ? null : tool.Name[..separator];
            if (server is not null && !servers.Contains(server) && !agentTools)
            {
                Error(toolPath, $"server '{server}' is not in this profile's servers ({string.Join(", ", servers)})");
                continue;
            }

            if (!ExpectObject(tool.Value, toolPath))
            {
                continue;
            }

            var setting = new ToolSettings();
            foreach (var property in KnownProperties(tool.Value, toolPath, s_toolSettingKeys))
            {
                var itemPath = Child(toolPath, property.Name);
                switch (property.Name)
                {
                    case "allowUsageWhenUntrustedDataIsPresent":
                        if (property.Value.ValueKind is JsonValueKind.True or JsonValueKind.False)
                        {
                            setting = setting with { AllowUsageWhenUntrustedDataIsPresent = property.Value.GetBoolean() };
                        }
                        else
                        {
                            ExpectedKind(itemPath, "true or false", property.Value);
                        }

                        break;
                    case "resultTreatment":
                        setting = ReadChoice(property.Value, itemPath, "trusted", "untrusted", "sanitize_with_dual_llm") switch
                        {
                            "trusted" => setting with { ResultTreatment = ResultTreatment.Trusted },
                            "sanitize_with_dual_llm" => setting with { ResultTreatment = ResultTreatment.SanitizeWithDualLlm },
                            _ => setting,
                        };
                        break;
                }
            }

            settings[tool.Name] = setting;
        }

        return settings;
    }

    private (List<PolicyDefinition> Invocation, List<PolicyDefinition> TrustedData) ReadPolicies(JsonElement element, string path)
    {
        List<PolicyDefinition> invocation = [],
            trustedData = [];
        if (!ExpectObject(element, path))
        {
            return (invocation, trustedData);
        }

        foreach (var property in KnownProperties(element, path, s_policiesKeys))
        {
            var listPath = Child(path, property.Name);
            var list = property.Name == "toolInvocation" ? invocation : trustedData;
            if (property.Value.ValueKind != JsonValueKind.Array)
            {
                ExpectedKind(listPath, "an array of policies", property.Value);
                continue;
            }

            var index = 0;
            foreach (var item in property.Value.EnumerateArray())
            {
                var itemPath = Index(listPath, index++);
                if (ReadPolicy(item, itemPath) is { } policy)
                {
                    list.Add(policy);
                }
            }
        }

        return (invocation, trustedData);
    }

    private PolicyDefinition? ReadPolicy(JsonElement element, string path)
    {
        if (!ExpectObject(element, path))
        {
            return null;
        }

        var errorsBefore = _errors.Count;
        string? id = null,
            tool = null,
            action = null;
        var reason = "";
        List<string> profiles = [];
        List<PolicyCondition> conditions = [];
        foreach (var property in KnownProperties(element, path, s_policyKeys))
        {
            var itemPath = Child(path, property.Name);
            switch (property.Name)
            {
                case "id":
                    id = ReadPlainString(property.Value, itemPath);
                    break;
                case "tool":
                    tool = ReadPlainString(property.Value, itemPath);
                    break;
                case "action":
                    action = ReadPlainString(property.Value, itemPath);
                    break;
                case "reason":
                    reason = ReadPlainString(property.Value, itemPath) ?? "";
                    break;
                case "profiles":
                    profiles = ReadStringArray(property.Value, itemPath, null, null);
                    break;
                case "conditions":
                    conditions = ReadConditions(property.Value, itemPath);
                    break;
            }
        }

        RequireKey(id, path, "id", "a unique policy id, e.g. \"no-mail-after-web\"");
        RequireKey(tool, path, "tool", "the namespaced tool it governs, {server}__{tool}");
        RequireKey(action, path, "action", "what to do when the conditions match");
        if (id is not null && !PolicyPaths.TryAdd(id, path))
        {
            Error(Child(path, "id"), $"duplicate policy id '{id}'; it is also used at {PolicyPaths[id]}");
        }

        return _errors.Count == errorsBefore ? new PolicyDefinition(id!, tool!, conditions, action!, reason, profiles) : null;
    }

    private List<PolicyCondition> ReadConditions(JsonElement element, string path)
    {
        var conditions = new List<PolicyCondition>();
        if (element.ValueKind != JsonValueKind.Array)
        {
            ExpectedKind(path, "an array of {key, operator, value} conditions", element);
            return conditions;
        }

        var index = 0;
        foreach (var item in element.EnumerateArray())
        {
            var itemPath = Index(path, index++);
            if (!ExpectObject(item, itemPath))
            {
                continue;
            }

            string? key = null,
                op = null,
                value = null;
            foreach (var property in KnownProperties(item, itemPath, s_conditionKeys))
            {
                var propertyPath = Child(itemPath, property.Name);
                switch (property.Name)
                {
                    case "key":
                        key = ReadPlainString(property.Value, propertyPath);
                        break;
                    case "operator":
                        op = ReadPlainString(property.Value, propertyPath);
                        break;
                    case "value":
                        value = ReadConditionValue(property.Value, propertyPath);
                        break;
                }
            }

            RequireKey(key, itemPath, "key", "an argument path such as to[*] or options.recursive");
            RequireKey(op, itemPath, "operator", "equal, notEqual, contains, notContains, startsWith, endsWith or regex");
            RequireKey(value, itemPath, "value", "the text to compare with");
            if (key is not null && op is not null && value is not null)
            {
                conditions.Add(new PolicyCondition(key, op, value));
            }
        }

        return conditions;
    }

    /// <summary>Values compare as text, so a number or boolean is taken as written: 10, 1.5, true.</summary>
    private string? ReadConditionValue(JsonElement element, string path) =>
        element.ValueKind switch
        {
            JsonValueKind.String => element.GetString(),
            JsonValueKind.Number => element.GetRawText(),
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            JsonValueKind.Null => "null",
            _ => ExpectedKindNull(path, "a string, number, boolean or null", element),
        };

    private string? ExpectedKindNull(string path, string expected, JsonElement element)
    {
        ExpectedKind(path, expected, element);
        return null;
    }

    /// <summary>A string taken literally: policy text is not a secret, so <c>env:</c> is not resolved in it.</summary>
    private string? ReadPlainString(JsonElement element, string path) =>
        element.ValueKind == JsonValueKind.String ? element.GetString() : ExpectedKindNull(path, "a string", element);

    private void RequireKey(string? value, string path, string key, string what)
    {
        if (value is null && !_errors.Exists(e => e.Contains(Child(path, key) + ":", StringComparison.Ordinal)))
        {
            Error(path, $"missing {key}: {what}");
        }
    }
}
