using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Mcp;
using Archestra.Policy;
using Archestra.Storage;

namespace Archestra.Gateway.Admin;

/// <summary><c>/api/profiles</c>, <c>/api/tokens</c> and the per-tool settings under <c>/api/tools</c>.</summary>
internal sealed partial class AdminHandlers
{
    private static readonly string[] s_tokenKeys = AdminBodies.Keys(AdminJson.Default.TokenRequest);

    private void AddProfileRoutes(List<AdminRoute> routes)
    {
        routes.Add(
            new("GET", "/api/profiles", "profiles", "List profiles (file- and API-managed)", (h, c) => ListProfilesAsync(h))
            {
                Response = AdminJson.Default.ItemsBodyProfileBody,
            }
        );
        routes.Add(
            new(
                "POST",
                "/api/profiles",
                "profiles",
                "Create a profile: name, servers, toolPrefix, tools, toolSelection, builtinTools, dynamicTools, description",
                CreateProfileAsync,
                Body: true
            )
            {
                Request = AdminJson.Default.ProfileRequest,
                Response = AdminJson.Default.ProfileBody,
            }
        );
        routes.Add(
            new("GET", "/api/profiles/{name}", "profiles", "Get one profile", (h, c) => GetProfileAsync(h)) { Response = AdminJson.Default.ProfileBody }
        );
        routes.Add(
            new("PUT", "/api/profiles/{name}", "profiles", "Replace an API-managed profile", UpdateProfileAsync, Body: true)
            {
                Request = AdminJson.Default.ProfileRequest,
                Response = AdminJson.Default.ProfileBody,
            }
        );
        routes.Add(new("DELETE", "/api/profiles/{name}", "profiles", "Delete an API-managed profile and its tokens", DeleteProfileAsync));

        routes.Add(
            new("GET", "/api/tokens", "tokens", "List gateway tokens (never the secrets)", (h, c) => ListTokensAsync(h))
            {
                Response = AdminJson.Default.ItemsBodyTokenBody,
            }
        );
        routes.Add(
            new(
                "POST",
                "/api/tokens",
                "tokens",
                "Create a token for an API-managed profile; the token is returned only in this response",
                CreateTokenAsync,
                Body: true
            )
            {
                Request = AdminJson.Default.TokenRequest,
                Response = AdminJson.Default.TokenBody,
            }
        );
        routes.Add(new("DELETE", "/api/tokens/{name}", "tokens", "Revoke (delete) a token", DeleteTokenAsync));

        routes.Add(
            new(
                "GET",
                "/api/tools",
                "tools",
                "Discovered tools per profile with their effective settings",
                (h, c) => ListToolsAsync(h),
                Query: ["profile", "server"]
            )
            {
                Response = AdminJson.Default.ItemsBodyToolBody,
            }
        );
        routes.Add(
            new("GET", "/api/tools/{profile}/{tool}", "tools", "A tool setting of a profile; tool is {server}__{tool}, {server}__* or *", (h, c) =>
                GetToolAsync(h)
            )
            {
                Response = AdminJson.Default.ToolSettingBody,
            }
        );
        routes.Add(
            new("PUT", "/api/tools/{profile}/{tool}", "tools", "Set a tool's defaults in an API-managed profile", PutToolAsync, Body: true)
            {
                Request = AdminJson.Default.ToolSettingsRequest,
                Response = AdminJson.Default.ToolSettingBody,
            }
        );
        routes.Add(new("DELETE", "/api/tools/{profile}/{tool}", "tools", "Remove a tool setting from an API-managed profile", DeleteToolAsync));
    }

    // ---- profiles ---------------------------------------------------------------------------------------------

    private async Task<AdminResult> ListProfilesAsync(HttpContext http)
    {
        var state = await AdminResources.LoadAsync(Store, http.RequestAborted).ConfigureAwait(false);
        var items = File.Profiles.Select(FileProfileBody).Concat(state.Profiles.Select(p => ApiProfileBody(p, state))).ToList();
        return AdminResult.Ok(new ItemsBody<ProfileBody>(items), AdminJson.Default.ItemsBodyProfileBody);
    }

    private async Task<AdminResult> GetProfileAsync(HttpContext http)
    {
        var name = AdminRequest.Route(http, "name");
        if (File.Profiles.FirstOrDefault(p => p.Name == name) is { } fileProfile)
        {
            return AdminResult.Ok(FileProfileBody(fileProfile), AdminJson.Default.ProfileBody);
        }

        var state = await AdminResources.LoadAsync(Store, http.RequestAborted).ConfigureAwait(false);
        return state.Profiles.FirstOrDefault(p => p.Name == name) is { } api
            ? AdminResult.Ok(ApiProfileBody(api, state), AdminJson.Default.ProfileBody)
            : AdminResult.NotFound("profile", name);
    }

    private Task<AdminResult> CreateProfileAsync(HttpContext http, Caller caller) => WriteProfileAsync(http, caller, null);

    private Task<AdminResult> UpdateProfileAsync(HttpContext http, Caller caller) => WriteProfileAsync(http, caller, AdminRequest.Route(http, "name"));

    private async Task<AdminResult> WriteProfileAsync(HttpContext http, Caller caller, string? existingName)
    {
        var ct = http.RequestAborted;
        var (document, problem) = await AdminRequest.ReadObjectAsync(http).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        using var doc = document!;
        var body = doc.RootElement;
        var errors = new List<FieldError>();
        string? name = existingName;
        if (existingName is null)
        {
            name = AdminRequest.RequiredString(body, "name", errors);
        }
        else if (AdminRequest.OptionalString(body, "name", errors) is { } given && given != existingName)
        {
            errors.Add(new FieldError("$.name", $"a profile cannot be renamed; expected '{existingName}' or no name"));
        }

        var description = AdminRequest.OptionalString(body, "description", errors);
        if (body.TryGetProperty("tokens", out _))
        {
            errors.Add(new FieldError("$.tokens", "tokens are not part of an API profile: create them with POST /api/tokens (the secret is returned once)"));
        }

        if (errors.Count > 0 || name is null)
        {
            return AdminResult.Invalid(errors);
        }

        await _changing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var state = await AdminResources.LoadAsync(Store, ct).ConfigureAwait(false);
            var fileOwned = File.Profiles.Any(p => p.Name == name);
            var current = state.Profiles.FirstOrDefault(p => p.Name == name);
            if (existingName is null && (fileOwned || current is not null))
            {
                return AdminResult.Conflict(
                    fileOwned ? $"the name '{name}' is taken by a profile managed by the configuration file" : $"a profile named '{name}' already exists"
                );
            }

            if (existingName is not null && fileOwned)
            {
                return AdminResult.FileManaged("profile", name);
            }

            if (existingName is not null && current is null)
            {
                return AdminResult.NotFound("profile", name);
            }

            using var settingsDoc = AdminRequest.Without(body, "name", "description");
            return await SaveProfileAsync(caller, state, current, name, description, settingsDoc.RootElement.GetRawText(), ct).ConfigureAwait(false);
        }
        finally
        {
            _changing.Release();
        }
    }

    private Task<AdminResult> SaveProfileAsync(
        Caller caller,
        ApiState state,
        ProfileRow? current,
        string name,
        string? description,
        string settingsJson,
        CancellationToken ct,
        Func<ProfileRow, GatewayConfig, AdminResult>? success = null
    )
    {
        var now = DateTime.UtcNow;
        var row = new ProfileRow(current?.Id ?? Guid.CreateVersion7(), name, description, settingsJson, ManagedBy.Api, current?.CreatedAt ?? now, now);
        var candidate = state with { Profiles = state.Profiles.Where(p => p.Name != name).Append(row).ToList() };
        return CommitAsync(
            caller,
            current is null ? "create" : "update",
            "profile",
            name,
            candidate,
            tx => current is null ? Store.Profiles.InsertAsync(tx, row, ct) : Store.Profiles.UpdateAsync(tx, row, ct),
            w => w.WriteRawValue(settingsJson),
            config =>
                success is not null ? success(row, config)
                : current is null ? AdminResult.Created(ApiProfileBody(row, candidate), AdminJson.Default.ProfileBody)
                : AdminResult.Ok(ApiProfileBody(row, candidate), AdminJson.Default.ProfileBody),
            ct
        );
    }

    private Task<AdminResult> DeleteProfileAsync(HttpContext http, Caller caller)
    {
        var name = AdminRequest.Route(http, "name");
        return File.Profiles.Any(p => p.Name == name)
            ? Task.FromResult(AdminResult.FileManaged("profile", name))
            : DeleteConfiguredAsync(
                http,
                caller,
                "profile",
                name,
                Store.Profiles,
                state => state.Profiles.FirstOrDefault(p => p.Name == name),
                () => AdminResult.NotFound("profile", name),
                static (state, profile) =>
                    state with
                    {
                        Profiles = state.Profiles.Where(p => p.Id != profile.Id).ToList(),
                        Tokens = state.Tokens.Where(t => t.ProfileId != profile.Id).ToList(),
                    },
                async (_, ct) =>
                    await ProfileUsersAsync(name, ct).ConfigureAwait(false) is { Count: > 0 } users
                        ? AdminResult.Conflict($"profile '{name}' is used by {string.Join(", ", users)}; delete or change them first")
                        : null
            );
    }

    private static ProfileBody FileProfileBody(ProfileConfig profile) =>
        new()
        {
            Name = profile.Name,
            ManagedBy = "file",
            Endpoint = $"/v1/mcp/{profile.Name}",
            Servers = profile.Servers,
            ToolPrefix = profile.ToolPrefix == ToolPrefixMode.Always ? "always" : "multiplex",
            Tools = Json(w =>
            {
                w.WriteStartObject();
                foreach (var (key, settings) in profile.Tools.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    w.WritePropertyName(key);
                    JsonSerializer.Serialize(w, SettingsBody(settings), AdminJson.Default.ToolSettingsBody);
                }

                w.WriteEndObject();
            }),
            ToolSelection = profile.ToolSelection.Count == 0 ? null : SelectionJson(profile),
            BuiltinTools = profile.BuiltinTools.ToString().ToLowerInvariant(),
            DynamicTools = profile.DynamicTools,
            Tokens = profile.TokenHashes.Count,
        };

    private static JsonElement SelectionJson(ProfileConfig profile) =>
        Json(w =>
        {
            w.WriteStartObject();
            foreach (var (server, selection) in profile.ToolSelection.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                w.WriteStartObject(server);
                if (selection.Allow is { } allow)
                {
                    w.WriteStartArray("allow"u8);
                    allow.ToList().ForEach(w.WriteStringValue);
                    w.WriteEndArray();
                }

                w.WriteStartArray("deny"u8);
                selection.Deny.ToList().ForEach(w.WriteStringValue);
                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndObject();
        });

    /// <summary>An API profile: its stored settings as given (the file's profile object without tokens).</summary>
    private static ProfileBody ApiProfileBody(ProfileRow profile, ApiState state)
    {
        using var doc = JsonDocument.Parse(profile.SettingsJson);
        var settings = doc.RootElement.EnumerateObject().ToDictionary(static p => p.Name, static p => p.Value.Clone(), StringComparer.Ordinal);
        IReadOnlyList<string>? servers = settings.Remove("servers", out var list) ? list.EnumerateArray().Select(static s => s.GetString()!).ToList() : null;
        var toolPrefix = settings.Remove("toolPrefix", out var prefix) ? prefix.GetString() : null;
        JsonElement? tools = settings.Remove("tools", out var t) ? t : null;
        JsonElement? selection = settings.Remove("toolSelection", out var sel) ? sel : null;
        var builtinTools = settings.Remove("builtinTools", out var b) && b.ValueKind == JsonValueKind.String ? b.GetString() : null;
        bool? dynamicTools = settings.Remove("dynamicTools", out var d) && d.ValueKind is JsonValueKind.True or JsonValueKind.False ? d.GetBoolean() : null;
        return new ProfileBody
        {
            Name = profile.Name,
            ManagedBy = "api",
            Endpoint = $"/v1/mcp/{profile.Name}",
            Description = profile.Description,
            Servers = servers,
            ToolPrefix = toolPrefix,
            Tools = tools,
            ToolSelection = selection,
            BuiltinTools = builtinTools,
            DynamicTools = dynamicTools,
            Tokens = state.Tokens.Count(t => t.ProfileId == profile.Id),
            CreatedAt = profile.CreatedAt,
            UpdatedAt = profile.UpdatedAt,
            Settings = settings.Count == 0 ? null : settings,
        };
    }

    private static ToolSettingsBody SettingsBody(ToolSettings settings) =>
        new(
            settings.AllowUsageWhenUntrustedDataIsPresent,
            settings.ResultTreatment switch
            {
                ResultTreatment.Trusted => "trusted",
                ResultTreatment.SanitizeWithDualLlm => "sanitize_with_dual_llm",
                _ => "untrusted",
            }
        );

    // ---- tokens -----------------------------------------------------------------------------------------------

    private async Task<AdminResult> ListTokensAsync(HttpContext http)
    {
        var state = await AdminResources.LoadAsync(Store, http.RequestAborted).ConfigureAwait(false);
        var items = File
            .Profiles.SelectMany(static p => Enumerable.Range(0, p.TokenHashes.Count).Select(i => new TokenBody($"{p.Name}[{i}]", p.Name, "file")))
            .Concat(state.Tokens.Select(t => TokenBodyOf(t, null)))
            .ToList();
        return AdminResult.Ok(new ItemsBody<TokenBody>(items), AdminJson.Default.ItemsBodyTokenBody);
    }

    private static TokenBody TokenBodyOf(GatewayTokenRow token, string? secret) =>
        new(token.Name, token.ProfileName ?? "", "api", token.CreatedAt, token.LastUsedAt, secret);

    private async Task<AdminResult> CreateTokenAsync(HttpContext http, Caller caller)
    {
        var ct = http.RequestAborted;
        var (document, problem) = await AdminRequest.ReadObjectAsync(http).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        using var doc = document!;
        var errors = new List<FieldError>();
        AdminRequest.UnknownKeys(doc.RootElement, "$", s_tokenKeys, errors);
        var name = AdminRequest.RequiredString(doc.RootElement, "name", errors);
        var profileName = AdminRequest.RequiredString(doc.RootElement, "profile", errors);
        if (name is not null && !ConfigReader.IsName(name))
        {
            errors.Add(new FieldError("$.name", "a token name must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'"));
        }

        if (errors.Count > 0)
        {
            return AdminResult.Invalid(errors);
        }

        if (File.Profiles.Any(p => p.Name == profileName))
        {
            return AdminResult.Conflict(
                $"profile '{profileName}' is managed by the configuration file; its tokens are set there (profiles.{profileName}.tokens)"
            );
        }

        await _changing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var state = await AdminResources.LoadAsync(Store, ct).ConfigureAwait(false);
            if (state.Profiles.FirstOrDefault(p => p.Name == profileName) is not { } profile)
            {
                return AdminResult.Invalid("$.profile", $"unknown profile '{profileName}'");
            }

            if (state.Tokens.Any(t => t.Name == name))
            {
                return AdminResult.Conflict($"a token named '{name}' already exists");
            }

            var secret = AdminApi.NewSecret(AdminApi.TokenPrefix);
            var token = new GatewayTokenRow(
                Guid.CreateVersion7(),
                name!,
                SecretHash.Compute(secret),
                profile.Id,
                ManagedBy.Api,
                DateTime.UtcNow,
                null,
                profile.Name
            );
            var candidate = state with { Tokens = state.Tokens.Append(token).ToList() };
            return await CommitAsync(
                    caller,
                    "create",
                    "token",
                    token.Name,
                    candidate,
                    tx => Store.GatewayTokens.InsertAsync(tx, token, ct),
                    w =>
                    {
                        w.WriteStartObject();
                        w.WriteString("profile"u8, profile.Name);
                        w.WriteEndObject();
                    },
                    _ => AdminResult.Created(TokenBodyOf(token, secret), AdminJson.Default.TokenBody),
                    ct
                )
                .ConfigureAwait(false);
        }
        finally
        {
            _changing.Release();
        }
    }

    private Task<AdminResult> DeleteTokenAsync(HttpContext http, Caller caller)
    {
        var name = AdminRequest.Route(http, "name");
        return DeleteConfiguredAsync(
            http,
            caller,
            "token",
            name,
            Store.GatewayTokens,
            state => state.Tokens.FirstOrDefault(t => t.Name == name),
            () =>
                File.Profiles.Any(p => name.StartsWith(p.Name + "[", StringComparison.Ordinal))
                    ? AdminResult.FileManaged("token", name)
                    : AdminResult.NotFound("token", name),
            static (state, token) => state with { Tokens = state.Tokens.Where(t => t.Id != token.Id).ToList() }
        );
    }

    // ---- tools ------------------------------------------------------------------------------------------------

    private async Task<AdminResult> ListToolsAsync(HttpContext http)
    {
        var profileFilter = AdminRequest.Query(http, "profile");
        var serverFilter = AdminRequest.Query(http, "server");
        var config = Gateway.Config;
        var items =
            new List<(
                string Profile,
                string Server,
                string Tool,
                string Exposed,
                string? Description,
                ToolSettings Settings,
                string? Key,
                bool FileManaged,
                bool Online,
                (bool Exposed, string? Reason) Selection
            )>();
        var fileProfiles = File.Profiles.Select(p => p.Name).ToHashSet(StringComparer.Ordinal);

        // What the servers listed before (also while a server is down): first and last seen, from the database.
        var seen = new Dictionary<(string, string), DiscoveredTool>();
        foreach (var tool in await Store.ListDiscoveredToolsAsync(serverFilter, http.RequestAborted).ConfigureAwait(false))
        {
            seen[(tool.Server, tool.Name)] = tool;
        }

        foreach (var profile in config.Profiles)
        {
            if (profileFilter is not null && profile.Name != profileFilter)
            {
                continue;
            }

            if (!Gateway.Profiles.TryGetValue(profile.Name, out var live))
            {
                continue;
            }

            foreach (var entry in live.Servers)
            {
                if (serverFilter is not null && entry.Name != serverFilter)
                {
                    continue;
                }

                var list = await entry.GetListAsync(ListKind.Tools, Gateway.OnListFailed).ConfigureAwait(false);
                if (list is null)
                {
                    // Down: show what it listed when it was last up.
                    foreach (var known in seen.Values.Where(t => t.Server == entry.Name).OrderBy(t => t.Name, StringComparer.Ordinal))
                    {
                        var knownQualified = McpProtocol.Qualify(entry.Name, known.Name);
                        var (knownSettings, knownKey) = Effective(profile, entry.Name, knownQualified);
                        items.Add(
                            (
                                profile.Name,
                                entry.Name,
                                known.Name,
                                live.Prefixed ? knownQualified : known.Name,
                                known.Description,
                                knownSettings,
                                knownKey,
                                fileProfiles.Contains(profile.Name),
                                false,
                                Selected(live, entry, known.Name)
                            )
                        );
                    }

                    continue;
                }

                foreach (var item in list.Items)
                {
                    var qualified = McpProtocol.Qualify(entry.Name, item.Key);
                    var (settings, key) = Effective(profile, entry.Name, qualified);
                    var (description, _) = item.ReadToolInfo();

                    items.Add(
                        (
                            profile.Name,
                            entry.Name,
                            item.Key,
                            live.Prefixed ? qualified : item.Key,
                            description,
                            settings,
                            key,
                            fileProfiles.Contains(profile.Name),
                            true,
                            Selected(live, entry, item.Key)
                        )
                    );
                }
            }
        }

        var bodies = items
            .Select(item =>
            {
                seen.TryGetValue((item.Server, item.Tool), out var history);
                return new ToolBody
                {
                    Id = $"{item.Profile}/{McpProtocol.Qualify(item.Server, item.Tool)}",
                    Profile = item.Profile,
                    Server = item.Server,
                    Tool = item.Tool,
                    Name = item.Exposed,
                    Description = item.Description,
                    Settings = SettingsBody(item.Settings),
                    SettingsFrom = item.Key,
                    Exposed = item.Selection.Exposed,
                    ExposedBy = item.Selection.Reason,
                    ManagedBy = item.FileManaged ? "file" : "api",
                    Online = item.Online,
                    FirstSeen = history?.FirstSeen,
                    LastSeen = history?.LastSeen,
                };
            })
            .ToList();
        return AdminResult.Ok(new ItemsBody<ToolBody>(bodies), AdminJson.Default.ItemsBodyToolBody);
    }

    /// <summary>Whether the profile exposes a tool of a server, and the <c>toolSelection</c> rule that says so (null: no selection).</summary>
    private static (bool Exposed, string? Reason) Selected(GatewayProfile profile, UpstreamEntry server, string tool) =>
        profile.Selections[Array.IndexOf(profile.Servers, server)] is { } selection ? selection.Explain(tool) : (true, null);

    /// <summary>The most specific setting that applies (exact, {server}__*, *), and the key it came from; defaults when none.</summary>
    private static (ToolSettings Settings, string? Key) Effective(ProfileConfig profile, string server, string qualified)
    {
        if (profile.Tools.TryGetValue(qualified, out var exact))
        {
            return (exact, qualified);
        }

        var serverKey = server + "__*";
        if (profile.Tools.TryGetValue(serverKey, out var byServer))
        {
            return (byServer, serverKey);
        }

        return profile.Tools.TryGetValue("*", out var any) ? (any, "*") : (new ToolSettings(), null);
    }

    private Task<AdminResult> GetToolAsync(HttpContext http)
    {
        var profileName = AdminRequest.Route(http, "profile");
        var tool = AdminRequest.Route(http, "tool");
        if (Gateway.Config.Profiles.FirstOrDefault(p => p.Name == profileName) is not { } profile)
        {
            return Task.FromResult(AdminResult.NotFound("profile", profileName));
        }

        if (!profile.Tools.TryGetValue(tool, out var settings))
        {
            return Task.FromResult(AdminResult.NotFound("tool setting", $"{profileName}/{tool}"));
        }

        var managedBy = File.Profiles.Any(p => p.Name == profileName) ? "file" : "api";
        return Task.FromResult(
            AdminResult.Ok(
                new ToolSettingBody($"{profileName}/{tool}", profileName, tool, SettingsBody(settings), managedBy),
                AdminJson.Default.ToolSettingBody
            )
        );
    }

    private Task<AdminResult> PutToolAsync(HttpContext http, Caller caller) => WriteToolAsync(http, caller, delete: false);

    private Task<AdminResult> DeleteToolAsync(HttpContext http, Caller caller) => WriteToolAsync(http, caller, delete: true);

    /// <summary>Edits the profile's <c>tools</c> object; the whole profile is then read and compiled as on create.</summary>
    private async Task<AdminResult> WriteToolAsync(HttpContext http, Caller caller, bool delete)
    {
        var ct = http.RequestAborted;
        var profileName = AdminRequest.Route(http, "profile");
        var tool = AdminRequest.Route(http, "tool");
        JsonDocument? body = null;
        if (!delete)
        {
            var (document, problem) = await AdminRequest.ReadObjectAsync(http).ConfigureAwait(false);
            if (problem is not null)
            {
                return problem;
            }

            body = document;
        }

        using var _ = body;
        if (File.Profiles.Any(p => p.Name == profileName))
        {
            return AdminResult.FileManaged("profile", profileName);
        }

        await _changing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var state = await AdminResources.LoadAsync(Store, ct).ConfigureAwait(false);
            if (state.Profiles.FirstOrDefault(p => p.Name == profileName) is not { } current)
            {
                return AdminResult.NotFound("profile", profileName);
            }

            var buffer = new System.Buffers.ArrayBufferWriter<byte>();
            var found = false;
            using (var settings = JsonDocument.Parse(current.SettingsJson))
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                foreach (var property in settings.RootElement.EnumerateObject())
                {
                    if (property.Name != "tools")
                    {
                        property.WriteTo(w);
                    }
                }

                w.WriteStartObject("tools"u8);
                if (settings.RootElement.TryGetProperty("tools", out var tools) && tools.ValueKind == JsonValueKind.Object)
                {
                    foreach (var property in tools.EnumerateObject())
                    {
                        if (property.Name == tool)
                        {
                            found = true;
                        }
                        else
                        {
                            property.WriteTo(w);
                        }
                    }
                }

                if (body is not null)
                {
                    w.WritePropertyName(tool);
                    body.RootElement.WriteTo(w);
                }

                w.WriteEndObject();
                w.WriteEndObject();
            }

            if (delete && !found)
            {
                return AdminResult.NotFound("tool setting", $"{profileName}/{tool}");
            }

            var prefix = ConfigReader.Child("$.tools", tool);
            var result = await SaveProfileAsync(caller, state, current, profileName, current.Description, Utf8(buffer.WrittenSpan), ct, (row, config) =>
                    delete
                        ? AdminResult.NoContent
                        : AdminResult.Ok(
                            new ToolSettingBody(
                                $"{profileName}/{tool}",
                                profileName,
                                tool,
                                SettingsBody(config.Profiles.First(p => p.Name == profileName).Tools[tool]),
                                "api"
                            ),
                            AdminJson.Default.ToolSettingBody
                        )
                )
                .ConfigureAwait(false);

            // The profile reader names the setting at $.tools['x']...; the body of this request is that object.
            if (result.Errors is { } errors && result.Status == StatusCodes.Status422UnprocessableEntity)
            {
                return AdminResult.Invalid(
                    errors.Select(e => e.Path.StartsWith(prefix, StringComparison.Ordinal) ? e with { Path = "$" + e.Path[prefix.Length..] } : e).ToList()
                );
            }

            return result;
        }
        finally
        {
            _changing.Release();
        }
    }
}
