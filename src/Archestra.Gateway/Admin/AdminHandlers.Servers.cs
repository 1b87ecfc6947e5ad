using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Runtime.Upstreams;
using Archestra.Storage;

namespace Archestra.Gateway.Admin;

/// <summary><c>/api/mcp-servers</c>: the file's <c>mcpServers</c> entries, with a <c>name</c>.</summary>
internal sealed partial class AdminHandlers
{
    private void AddServerRoutes(List<AdminRoute> routes)
    {
        routes.Add(
            new("GET", "/api/mcp-servers", "mcp-servers", "List MCP servers (file- and API-managed) with their state", (h, c) => ListServersAsync(h))
            {
                Response = AdminJson.Default.ItemsBodyServerBody,
            }
        );
        routes.Add(
            new(
                "POST",
                "/api/mcp-servers",
                "mcp-servers",
                "Create an MCP server (the file's mcpServers entry plus name; env and headers values as env:NAME references)",
                CreateServerAsync,
                Body: true
            )
            {
                Request = AdminJson.Default.ServerRequest,
                Response = AdminJson.Default.ServerBody,
            }
        );
        routes.Add(
            new("GET", "/api/mcp-servers/{name}", "mcp-servers", "Get one MCP server", (h, c) => GetServerAsync(h)) { Response = AdminJson.Default.ServerBody }
        );
        routes.Add(
            new("PUT", "/api/mcp-servers/{name}", "mcp-servers", "Replace an API-managed MCP server (it restarts)", UpdateServerAsync, Body: true)
            {
                Request = AdminJson.Default.ServerRequest,
                Response = AdminJson.Default.ServerBody,
            }
        );
        routes.Add(new("DELETE", "/api/mcp-servers/{name}", "mcp-servers", "Delete an API-managed MCP server (it stops)", DeleteServerAsync));
    }

    private async Task<AdminResult> ListServersAsync(HttpContext http)
    {
        var state = await AdminResources.LoadAsync(Store, http.RequestAborted).ConfigureAwait(false);
        var items = File.McpServers.Select(FileServerBody).Concat(state.Servers.Select(ApiServerBody)).ToList();
        return AdminResult.Ok(new ItemsBody<ServerBody>(items), AdminJson.Default.ItemsBodyServerBody);
    }

    private async Task<AdminResult> GetServerAsync(HttpContext http)
    {
        var name = AdminRequest.Route(http, "name");
        if (File.McpServers.FirstOrDefault(s => s.Name == name) is { } fileServer)
        {
            return AdminResult.Ok(FileServerBody(fileServer), AdminJson.Default.ServerBody);
        }

        var state = await AdminResources.LoadAsync(Store, http.RequestAborted).ConfigureAwait(false);
        return state.Servers.FirstOrDefault(s => s.Name == name) is { } api
            ? AdminResult.Ok(ApiServerBody(api), AdminJson.Default.ServerBody)
            : AdminResult.NotFound("MCP server", name);
    }

    private Task<AdminResult> CreateServerAsync(HttpContext http, Caller caller) => WriteServerAsync(http, caller, null);

    private Task<AdminResult> UpdateServerAsync(HttpContext http, Caller caller) => WriteServerAsync(http, caller, AdminRequest.Route(http, "name"));

    private async Task<AdminResult> WriteServerAsync(HttpContext http, Caller caller, string? existingName)
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
        string? name;
        if (existingName is null)
        {
            name = AdminRequest.RequiredString(body, "name", errors);
        }
        else
        {
            name = existingName;
            if (AdminRequest.OptionalString(body, "name", errors) is { } given && given != existingName)
            {
                errors.Add(new FieldError("$.name", $"a server cannot be renamed; expected '{existingName}' or no name"));
            }
        }

        RefuseInlineValues(body, errors);
        if (errors.Count > 0 || name is null)
        {
            return AdminResult.Invalid(errors);
        }

        await _changing.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var state = await AdminResources.LoadAsync(Store, ct).ConfigureAwait(false);
            var fileOwned = File.McpServers.Any(s => s.Name == name);
            var current = state.Servers.FirstOrDefault(s => s.Name == name);
            if (existingName is null)
            {
                if (fileOwned || current is not null)
                {
                    return AdminResult.Conflict(
                        fileOwned
                            ? $"the name '{name}' is taken by an MCP server managed by the configuration file"
                            : $"an MCP server named '{name}' already exists"
                    );
                }
            }
            else if (fileOwned)
            {
                return AdminResult.FileManaged("MCP server", name);
            }
            else if (current is null)
            {
                return AdminResult.NotFound("MCP server", name);
            }

            using var configDoc = AdminRequest.Without(body, "name");
            var configJson = configDoc.RootElement.GetRawText();
            var now = DateTime.UtcNow;
            var row = new McpServerRow(current?.Id ?? Guid.CreateVersion7(), name, configJson, current?.CreatedAt ?? now, now);
            var servers = state.Servers.Where(s => s.Name != name).Append(row).ToList();
            var candidate = state with { Servers = servers };
            return await CommitAsync(
                    caller,
                    current is null ? "create" : "update",
                    "server",
                    name,
                    candidate,
                    tx => current is null ? Store.McpServers.InsertAsync(tx, row, ct) : Store.McpServers.UpdateAsync(tx, row, ct),
                    w => w.WriteRawValue(configJson),
                    _ =>
                        current is null
                            ? AdminResult.Created(ApiServerBody(row), AdminJson.Default.ServerBody)
                            : AdminResult.Ok(ApiServerBody(row), AdminJson.Default.ServerBody),
                    ct
                )
                .ConfigureAwait(false);
        }
        finally
        {
            _changing.Release();
        }
    }

    private Task<AdminResult> DeleteServerAsync(HttpContext http, Caller caller)
    {
        var name = AdminRequest.Route(http, "name");
        return File.McpServers.Any(s => s.Name == name)
            ? Task.FromResult(AdminResult.FileManaged("MCP server", name))
            : DeleteConfiguredAsync(
                http,
                caller,
                "server",
                name,
                Store.McpServers,
                state => state.Servers.FirstOrDefault(s => s.Name == name),
                () => AdminResult.NotFound("MCP server", name),
                static (state, server) => state with { Servers = state.Servers.Where(s => s.Id != server.Id).ToList() },
                (_, _) =>
                {
                    var users = Gateway.Config.Profiles.Where(p => p.Servers.Contains(name)).Select(p => p.Name).ToList();
                    return Task.FromResult(
                        users.Count > 0
                            ? AdminResult.Conflict($"MCP server '{name}' is used by profile(s) {string.Join(", ", users)}; remove it from them first")
                            : null
                    );
                }
            );
    }

    private ServerBody ApiServerBody(McpServerRow server) =>
        new(server.Name, "api", StateOf(server.Name), Json(w => WriteRedacted(w, server.ConfigJson)), server.CreatedAt, server.UpdatedAt);

    private ServerBody FileServerBody(McpServerConfig server) => new(server.Name, "file", StateOf(server.Name), Json(w => WriteFileConfig(w, server)));

    private static JsonElement Json(Action<Utf8JsonWriter> write)
    {
        using var doc = JsonDocument.Parse(StoredJson.Write(write));
        return doc.RootElement.Clone();
    }

    /// <summary>
    /// An env or header value written inline would be stored in the database and in the change log in plain text, and
    /// answered by every GET: through the API, as in the file, such values are <c>env:NAME</c> references to the
    /// gateway's environment. (The file may hold inline values; it is the operator's own file, and its servers are
    /// answered with every value hidden.)
    /// </summary>
    private static void RefuseInlineValues(JsonElement body, List<FieldError> errors)
    {
        foreach (var map in s_secretMaps)
        {
            if (!body.TryGetProperty(map, out var values) || values.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            foreach (var property in values.EnumerateObject())
            {
                if (property.Value.ValueKind == JsonValueKind.String && !IsEnvReference(property.Value))
                {
                    errors.Add(
                        new FieldError(
                            ConfigReader.Child("$." + map, property.Name),
                            "inline values are refused through the admin API (they would be stored and answered in plain text): set the "
                                + "value in the gateway's environment and write env:NAME"
                        )
                    );
                }
            }
        }
    }

    private static readonly string[] s_secretMaps = ["env", "headers"];

    private static bool IsEnvReference(JsonElement value) => value.GetString()!.StartsWith("env:", StringComparison.Ordinal);

    /// <summary>
    /// A stored server's config with every inline env and header value shown as "(hidden)" (env:NAME references as
    /// written). Rows written before inline values were refused may hold them; so may their change-log details.
    /// </summary>
    internal static void WriteRedacted(Utf8JsonWriter w, string configJson)
    {
        using var doc = JsonDocument.Parse(configJson);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            root.WriteTo(w);
            return;
        }

        w.WriteStartObject();
        foreach (var property in root.EnumerateObject())
        {
            if (Array.IndexOf(s_secretMaps, property.Name) < 0 || property.Value.ValueKind != JsonValueKind.Object)
            {
                property.WriteTo(w);
                continue;
            }

            w.WriteStartObject(property.Name);
            foreach (var entry in property.Value.EnumerateObject())
            {
                if (entry.Value.ValueKind == JsonValueKind.String && IsEnvReference(entry.Value))
                {
                    entry.WriteTo(w);
                }
                else
                {
                    w.WriteString(entry.Name, "(hidden)");
                }
            }

            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    /// <summary>The file's server object with resolved values hidden: env and header values may be secrets.</summary>
    private static void WriteFileConfig(Utf8JsonWriter w, McpServerConfig server)
    {
        w.WriteStartObject();
        if (server.Kind == McpServerKind.Stdio)
        {
            w.WriteString("command"u8, server.Command);
            w.WriteStartArray("args"u8);
            foreach (var arg in server.Args)
            {
                w.WriteStringValue(arg);
            }

            w.WriteEndArray();
            WriteRedacted(w, "env", server.Env);
            if (server.Cwd is not null)
            {
                w.WriteString("cwd"u8, server.Cwd);
            }
        }
        else if (server.Url is { } url)
        {
            w.WriteString("url"u8, url.ToString());
            w.WriteString("transport"u8, server.Kind == McpServerKind.Sse ? "sse" : "streamable-http");
            WriteRedacted(w, "headers", server.Headers);
        }

        if (server.Kubernetes is { } kubernetes)
        {
            WriteKubernetesSettings(w, kubernetes, server.Kind == McpServerKind.Stdio ? null : server);
        }

        w.WriteNumber("timeoutSeconds"u8, server.Timeout.TotalSeconds);
        w.WriteEndObject();
    }

    private static void WriteRedacted(Utf8JsonWriter w, string name, IReadOnlyDictionary<string, string> map)
    {
        w.WriteStartObject(name);
        foreach (var key in map.Keys.Order(StringComparer.Ordinal))
        {
            w.WriteString(key, "(hidden)");
        }

        w.WriteEndObject();
    }

    private string StateOf(string name) => Gateway.Entries.TryGetValue(name, out var entry) ? StateName(entry.Upstream.State) : "stopped";

    internal static string StateName(UpstreamState state) =>
        state switch
        {
            UpstreamState.Ready => "ready",
            UpstreamState.Starting => "starting",
            UpstreamState.Down => "down",
            _ => "stopped",
        };
}
