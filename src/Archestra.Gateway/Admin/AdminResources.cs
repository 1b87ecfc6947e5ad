using System.Collections.Frozen;
using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Policy;
using Archestra.Storage;

namespace Archestra.Gateway.Admin;

/// <summary>
/// An LLM provider created through the API, its keys unsealed in fallback order (<see cref="KeyError"/> says why
/// they could not be). <see cref="SettingsJson"/> holds <c>keyOrder</c> and the file's timeout and resilience fields.
/// </summary>
internal sealed record ApiLlmProvider(
    Guid Id,
    string Name,
    string Kind,
    string? BaseUrl,
    string SettingsJson,
    IReadOnlyList<LlmProviderKey> Keys,
    string? KeyError = null
);

/// <summary>Every API-managed gateway resource (the ones that shape the running configuration).</summary>
internal sealed record ApiState(
    IReadOnlyList<McpServerRow> Servers,
    IReadOnlyList<ProfileRow> Profiles,
    IReadOnlyList<GatewayTokenRow> Tokens,
    IReadOnlyList<PolicyRow> Policies
)
{
    public IReadOnlyList<ApiLlmProvider> LlmProviders { get; init; } = [];

    public bool IsEmpty => Servers.Count == 0 && Profiles.Count == 0 && Tokens.Count == 0 && Policies.Count == 0 && LlmProviders.Count == 0;
}

/// <summary>A problem found while merging: which API resource, where in it, and what.</summary>
internal sealed record MergeError(string Kind, string Name, string Path, string Message);

internal static class AdminResources
{
    public const string ToolInvocation = "tool_invocation";
    public const string TrustedData = "trusted_data";

    public static async Task<ApiState> LoadAsync(ArchestraStore store, CancellationToken ct)
    {
        var servers = await store.McpServers.ListAsync(ct).ConfigureAwait(false);
        var profiles = await store.Profiles.ListAsync(ct).ConfigureAwait(false);
        var tokens = await store.GatewayTokens.ListAsync(ct).ConfigureAwait(false);
        var policies = await store.Policies.ListAsync(ct).ConfigureAwait(false);
        return new ApiState(servers, profiles, tokens, policies) { LlmProviders = await LoadLlmProvidersAsync(store, ct).ConfigureAwait(false) };
    }

    private static async Task<IReadOnlyList<ApiLlmProvider>> LoadLlmProvidersAsync(ArchestraStore store, CancellationToken ct)
    {
        var keys = await store.LlmProviders.ListKeysAsync(ct).ConfigureAwait(false);
        var rows = (await store.LlmProviders.ListAsync(ct).ConfigureAwait(false)).Where(p => p.ManagedBy == ManagedBy.Api).ToList();
        var providers = new List<ApiLlmProvider>(rows.Count);
        foreach (var row in rows)
        {
            var unsealed = new List<LlmProviderKey>();
            string? error = null;
            foreach (var name in KeyOrder(row.SettingsJson, keys.Where(k => k.ProviderId == row.Id).Select(k => k.Name)))
            {
                var sealedKey = keys.First(k => k.ProviderId == row.Id && k.Name == name);
                try
                {
                    unsealed.Add(new LlmProviderKey(name, store.LlmProviders.Unseal(sealedKey)));
                }
                catch (Exception e) when (e is InvalidOperationException or System.Security.Cryptography.CryptographicException)
                {
                    error =
                        $"the key '{name}' cannot be unsealed ({e.Message}): start the gateway with the ARCHESTRA_SECRET_KEY that stored "
                        + "it, or send the keys again";
                }
            }

            providers.Add(new ApiLlmProvider(row.Id, row.Name, row.Kind, row.BaseUrl, row.SettingsJson, unsealed, error));
        }

        return providers;
    }

    /// <summary>The stored key names in fallback order: as the provider's <c>keyOrder</c> lists them, then any others by name.</summary>
    public static List<string> KeyOrder(string settingsJson, IEnumerable<string> stored)
    {
        var names = stored.ToList();
        var ordered = new List<string>(names.Count);
        using (var doc = JsonDocument.Parse(settingsJson))
        {
            if (
                doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("keyOrder", out var order)
                && order.ValueKind == JsonValueKind.Array
            )
            {
                foreach (var item in order.EnumerateArray())
                {
                    if (item.GetString() is { } name && names.Contains(name) && !ordered.Contains(name))
                    {
                        ordered.Add(name);
                    }
                }
            }
        }

        foreach (var name in names)
        {
            if (!ordered.Contains(name))
            {
                ordered.Add(name);
            }
        }

        return ordered;
    }

    /// <summary>
    /// The file's providers plus the API's: a name the file uses cannot be taken (like servers and profiles); the
    /// API's keys and settings are read by the file's own rules.
    /// </summary>
    private static List<LlmProviderConfig> MergeLlmProviders(GatewayConfig file, ApiState state, Func<string, string?> getEnv, List<MergeError> errors)
    {
        var providers = new List<LlmProviderConfig>(file.LlmProviders);
        foreach (var api in state.LlmProviders)
        {
            if (file.LlmProviders.Any(p => p.Name == api.Name))
            {
                errors.Add(new MergeError("llm-provider", api.Name, "$.name", $"the name '{api.Name}' is taken by a provider in the configuration file"));
                continue;
            }

            if (api.KeyError is { } keyError)
            {
                errors.Add(new MergeError("llm-provider", api.Name, "$.apiKeys", keyError));
                continue;
            }

            var kind = LlmProviderKinds.Parse(api.Kind) ?? LlmProviderKind.OpenAi;
            var reader = new ConfigReader("api", getEnv);
            using var settings = JsonDocument.Parse(api.SettingsJson);
            using var fields = AdminRequest.Without(settings.RootElement, "keyOrder");
            var read = reader.ReadLlmSettingsResource(fields.RootElement, "$");
            Collect(errors, "llm-provider", api.Name, reader);
            providers.Add(
                new LlmProviderConfig
                {
                    Name = api.Name,
                    Kind = kind,
                    BaseUrl = api.BaseUrl is { } url ? new Uri(url.TrimEnd('/')) : LlmProviderConfig.DefaultBaseUrl(kind),
                    Keys = api.Keys,
                    Timeout = read.Timeout,
                    Resilience = read.Resilience,
                }
            );
        }

        return providers;
    }

    /// <summary>
    /// The file's configuration plus the API's resources, with the whole policy set compiled; or the problems, each
    /// tagged with the API resource it belongs to. The file's own resources win every name (they were validated at load).
    /// </summary>
    public static (GatewayConfig? Config, List<MergeError> Errors) Merge(GatewayConfig file, ApiState state, Func<string, string?> getEnv)
    {
        var errors = new List<MergeError>();
        if (state.IsEmpty)
        {
            return (file, errors);
        }

        var servers = new List<McpServerConfig>(file.McpServers);
        var declared = new List<string>();
        foreach (var s in file.McpServers)
        {
            declared.Add(s.Name);
        }

        foreach (var api in state.Servers)
        {
            if (declared.Contains(api.Name))
            {
                errors.Add(new MergeError("server", api.Name, "$.name", $"the name '{api.Name}' is taken by a server in the configuration file"));
                continue;
            }

            declared.Add(api.Name);
            using var doc = JsonDocument.Parse(api.ConfigJson);
            var reader = new ConfigReader("api", getEnv) { KubernetesConfigured = file.Kubernetes is not null };
            var server = reader.ReadServerResource(api.Name, doc.RootElement, "$.name");
            Collect(errors, "server", api.Name, reader);
            if (server is not null)
            {
                servers.Add(server);
            }
        }

        var llmProviders = MergeLlmProviders(file, state, getEnv, errors);
        var profiles = new List<ProfileConfig>(file.Profiles);
        var inputs = new List<ProfilePolicyInput>(file.PolicyDefinitions.Profiles);
        foreach (var api in state.Profiles)
        {
            if (file.Profiles.Any(p => p.Name == api.Name))
            {
                errors.Add(new MergeError("profile", api.Name, "$.name", $"the name '{api.Name}' is taken by a profile in the configuration file"));
                continue;
            }

            using var doc = JsonDocument.Parse(api.SettingsJson);
            var reader = new ConfigReader("api", getEnv);
            var profile = reader.ReadProfileResource(api.Name, doc.RootElement, "$.name", declared, llmProviders);
            Collect(errors, "profile", api.Name, reader);
            if (profile is null)
            {
                continue;
            }

            var hashes = new List<byte[]>();
            foreach (var token in state.Tokens)
            {
                if (token.ProfileId == api.Id)
                {
                    hashes.Add(token.TokenHash);
                }
            }

            profile = profile with { TokenHashes = hashes };
            profiles.Add(profile);
            inputs.Add(new ProfilePolicyInput(profile.Name, profile.Servers, profile.Tools, AgentTools: profile.Llm is not null));
        }

        var invocation = new List<PolicyDefinition>(file.PolicyDefinitions.ToolInvocation);
        var trusted = new List<PolicyDefinition>(file.PolicyDefinitions.TrustedData);
        foreach (var policy in state.Policies)
        {
            (policy.Kind == ToolInvocation ? invocation : trusted).Add(policy.Definition);
        }

        var definitions = new PolicySetDefinition(invocation, trusted, inputs);
        var compiled = PolicyCompiler.Compile(definitions);
        foreach (var error in compiled.Errors)
        {
            errors.Add(Describe(error, file));
        }

        if (errors.Count != 0)
        {
            return (null, errors);
        }

        return (
            file with
            {
                McpServers = servers,
                Profiles = profiles,
                LlmProviders = llmProviders,
                PolicyDefinitions = definitions,
                Policies = compiled.Snapshot!,
            },
            errors
        );
    }

    private static void Collect(List<MergeError> errors, string kind, string name, ConfigReader reader)
    {
        foreach (var (path, message) in reader.PathErrors)
        {
            errors.Add(new MergeError(kind, name, path, message));
        }
    }

    private static MergeError Describe(PolicyError error, GatewayConfig file)
    {
        var subject = error.Subject;
        if (Quoted(subject, "policy \"") is { } id)
        {
            return new MergeError("policy", id, FieldPath(error.Field), error.Message);
        }

        if (Quoted(subject, "profile \"") is { } profile)
        {
            // tools["x"] → $.tools['x'] / $.tools.x, as the reader writes paths.
            var field = error.Field;
            if (field.StartsWith("tools[\"", StringComparison.Ordinal) && field.EndsWith("\"]", StringComparison.Ordinal))
            {
                return new MergeError("profile", profile, ConfigReader.Child("$.tools", field[7..^2]), error.Message);
            }

            return new MergeError("profile", profile, FieldPath(field), error.Message);
        }

        _ = file;
        return new MergeError("", "", "$", error.ToString());
    }

    private static string FieldPath(string field) =>
        field.Length == 0 ? "$"
        : field[0] == '[' ? "$" + field
        : "$." + field;

    private static string? Quoted(string subject, string prefix) =>
        subject.StartsWith(prefix, StringComparison.Ordinal) && subject.EndsWith('"') ? subject[prefix.Length..^1] : null;

    public static FrozenDictionary<string, T> ByName<T>(IEnumerable<T> items, Func<T, string> name) => items.ToFrozenDictionary(name, StringComparer.Ordinal);
}
