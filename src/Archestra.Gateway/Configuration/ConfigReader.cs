using System.Collections.Frozen;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Archestra.Policy;

namespace Archestra.Gateway.Configuration;

/// <summary>
/// Walks a parsed configuration document, applying defaults and recording every violation with its
/// JSON path. One instance per load; not thread-safe.
/// </summary>
internal sealed partial class ConfigReader
{
    private const string EnvPrefix = "env:";
    private const string Sha256Prefix = "sha256:";
    private const int MaxNameLength = 64;
    private const double MaxTimeoutSeconds = 3600;

    private static readonly string[] s_rootKeys =
    [
        "$schema",
        "listen",
        "limits",
        "security",
        "mcpServers",
        "profiles",
        "policies",
        "database",
        "storage",
        "adminKeys",
        "llmProviders",
    ];
    private static readonly string[] s_listenKeys = ["gateway", "admin", "metrics"];
    private static readonly string[] s_limitsKeys =
    [
        "maxRequestBodyBytes",
        "sessionIdleTimeoutSeconds",
        "maxSessions",
        "approvalTimeoutSeconds",
        "maxAdminRequestBodyBytes",
        "minRequestBodyBytesPerSecond",
        "requestBodyGracePeriodSeconds",
    ];
    private static readonly string[] s_securityKeys = ["allowedOrigins", "allowedHosts", "sessionKey"];
    private static readonly string[] s_serverKeys = ["type", "command", "args", "env", "cwd", "url", "headers", "transport", "timeoutSeconds"];
    private static readonly string[] s_profileKeys = ["servers", "tokens", "toolPrefix", "tools", "llm"];

    private readonly string _source;
    private readonly Func<string, string?> _getEnv;
    private readonly List<string> _errors = [];
    private readonly List<string> _declaredServers = [];

    public ConfigReader(string source, Func<string, string?> getEnv)
    {
        _source = source;
        _getEnv = getEnv;
    }

    public IReadOnlyList<string> Errors => _errors;

    /// <summary>A string value after <c>env:</c> resolution; <see cref="EnvName"/> says where it came from.</summary>
    private readonly record struct Text(string Value, string? EnvName)
    {
        // Values read from the environment may be secrets, so messages name the variable instead of echoing them.
        public string Shown => EnvName is null ? $"'{Value}'" : $"the value of {EnvName}";
    }

    public GatewayConfig? Read(JsonElement root)
    {
        const string path = "$";
        if (root.ValueKind != JsonValueKind.Object)
        {
            ExpectedKind(path, "an object", root);
            return null;
        }

        JsonElement? listen = null,
            limits = null,
            security = null,
            servers = null,
            profiles = null,
            policies = null,
            database = null,
            storage = null,
            adminKeys = null,
            llmProviders = null;
        foreach (var property in KnownProperties(root, path, s_rootKeys))
        {
            switch (property.Name)
            {
                case "listen":
                    listen = property.Value;
                    break;
                case "limits":
                    limits = property.Value;
                    break;
                case "security":
                    security = property.Value;
                    break;
                case "mcpServers":
                    servers = property.Value;
                    break;
                case "profiles":
                    profiles = property.Value;
                    break;
                case "policies":
                    policies = property.Value;
                    break;
                case "database":
                    database = property.Value;
                    break;
                case "storage":
                    storage = property.Value;
                    break;
                case "adminKeys":
                    adminKeys = property.Value;
                    break;
                case "llmProviders":
                    llmProviders = property.Value;
                    break;
                case "$schema":
                    break; // editor hint only
            }
        }

        var listenConfig = listen is { } l ? ReadListen(l, Child(path, "listen")) : new ListenConfig();
        var limitsConfig = limits is { } m ? ReadLimits(m, Child(path, "limits")) : new LimitsConfig();
        var securityConfig = security is { } s ? ReadSecurity(s, Child(path, "security")) : new SecurityConfig();
        var serverConfigs = servers is { } v ? ReadServers(v, Child(path, "mcpServers")) : [];
        // Before profiles, which name providers.
        var providerConfigs = llmProviders is { } lp ? ReadLlmProviders(lp, Child(path, "llmProviders")) : [];
        var profileConfigs = profiles is { } p ? ReadProfiles(p, Child(path, "profiles")) : [];
        var (invocation, trustedData) = policies is { } q ? ReadPolicies(q, Child(path, "policies")) : ([], []);
        var storageConfig = storage is { } st ? ReadStorage(st, Child(path, "storage")) : new StorageConfig();
        if (database is { } db)
        {
            storageConfig = storageConfig with { Database = ReadDatabase(db, Child(path, "database")) };
        }

        var adminKeyConfigs = adminKeys is { } ak ? ReadAdminKeys(ak, Child(path, "adminKeys")) : [];

        return new GatewayConfig
        {
            SourcePath = _source,
            Listen = listenConfig,
            Limits = limitsConfig,
            Security = securityConfig,
            McpServers = serverConfigs,
            Profiles = profileConfigs,
            PolicyDefinitions = new PolicySetDefinition(invocation, trustedData, ProfileInputs(profileConfigs)),
            Storage = storageConfig,
            AdminKeys = adminKeyConfigs,
            LlmProviders = providerConfigs,
        };
    }

    private ListenConfig ReadListen(JsonElement element, string path)
    {
        var config = new ListenConfig();
        if (!ExpectObject(element, path))
        {
            return config;
        }

        var seen = new List<(string Path, string Authority)>(3);
        foreach (var property in KnownProperties(element, path, s_listenKeys))
        {
            var itemPath = Child(path, property.Name);
            if (!TryReadString(property.Value, itemPath, out var text))
            {
                continue;
            }

            if (!TryParseListenAddress(text.Value, out var authority))
            {
                Error(itemPath, $"expected an absolute http:// URL with an explicit port and no path, such as http://127.0.0.1:9000, got {text.Shown}");
                continue;
            }

            foreach (var (otherPath, otherAuthority) in seen)
            {
                if (!authority.EndsWith(":0", StringComparison.Ordinal) && string.Equals(authority, otherAuthority, StringComparison.OrdinalIgnoreCase))
                {
                    Error(itemPath, $"the same address as {otherPath}; each listener needs its own port");
                }
            }

            seen.Add((itemPath, authority));
            config = property.Name switch
            {
                "gateway" => config with { Gateway = text.Value },
                "admin" => config with { Admin = text.Value },
                _ => config with { Metrics = text.Value },
            };
        }

        return config;
    }

    private LimitsConfig ReadLimits(JsonElement element, string path)
    {
        var config = new LimitsConfig();
        if (!ExpectObject(element, path))
        {
            return config;
        }

        foreach (var property in KnownProperties(element, path, s_limitsKeys))
        {
            var itemPath = Child(path, property.Name);
            switch (property.Name)
            {
                case "maxRequestBodyBytes":
                    if (TryReadInteger(property.Value, itemPath, 1, long.MaxValue, out var bytes))
                    {
                        config = config with { MaxRequestBodyBytes = bytes };
                    }

                    break;
                case "sessionIdleTimeoutSeconds":
                    // TimeSpan holds ~29,000 years; int.MaxValue seconds (68 years) keeps the arithmetic safe.
                    if (TryReadInteger(property.Value, itemPath, 1, int.MaxValue, out var seconds))
                    {
                        config = config with { SessionIdleTimeout = TimeSpan.FromSeconds(seconds) };
                    }

                    break;
                case "maxSessions":
                    if (TryReadInteger(property.Value, itemPath, 1, int.MaxValue, out var sessions))
                    {
                        config = config with { MaxSessions = (int)sessions };
                    }

                    break;
                case "approvalTimeoutSeconds":
                    if (TryReadInteger(property.Value, itemPath, 1, 86_400, out var approval))
                    {
                        config = config with { ApprovalTimeout = TimeSpan.FromSeconds(approval) };
                    }

                    break;
                case "maxAdminRequestBodyBytes":
                    if (TryReadInteger(property.Value, itemPath, 1, long.MaxValue, out var adminBytes))
                    {
                        config = config with { MaxAdminRequestBodyBytes = adminBytes };
                    }

                    break;
                case "minRequestBodyBytesPerSecond":
                    if (TryReadInteger(property.Value, itemPath, 1, int.MaxValue, out var rate))
                    {
                        config = config with { MinRequestBodyBytesPerSecond = (int)rate };
                    }

                    break;
                case "requestBodyGracePeriodSeconds":
                    // Kestrel refuses a grace period not longer than its 1 s heartbeat.
                    if (TryReadInteger(property.Value, itemPath, 2, 3600, out var grace))
                    {
                        config = config with { RequestBodyGracePeriod = TimeSpan.FromSeconds(grace) };
                    }

                    break;
            }
        }

        return config;
    }

    private SecurityConfig ReadSecurity(JsonElement element, string path)
    {
        var config = new SecurityConfig();
        if (!ExpectObject(element, path))
        {
            return config;
        }

        foreach (var property in KnownProperties(element, path, s_securityKeys))
        {
            var itemPath = Child(path, property.Name);
            if (property.Name == "allowedOrigins")
            {
                config = config with
                {
                    AllowedOrigins = ReadStringArray(
                        property.Value,
                        itemPath,
                        IsOrigin,
                        "an origin such as https://app.example.com (scheme://host[:port], no path or trailing '/') or *"
                    ),
                };
            }
            else if (property.Name == "allowedHosts")
            {
                config = config with
                {
                    AllowedHosts = ReadStringArray(
                        property.Value,
                        itemPath,
                        IsHostWithOptionalPort,
                        "a host name such as gateway.internal, optionally with :port"
                    ),
                };
            }
            else if (property.Value.ValueKind == JsonValueKind.String && !property.Value.GetString()!.StartsWith(EnvPrefix, StringComparison.Ordinal))
            {
                Error(itemPath, "secrets are never written inline: use env:NAME");
            }
            else if (TryReadString(property.Value, itemPath, out var key))
            {
                // 32 characters: enough entropy for an HMAC-SHA256 key even when it is hex or base64.
                if (key.Value.Length < 32)
                {
                    Error(itemPath, $"the session key (from {key.EnvName}) must be at least 32 characters, e.g. the output of `openssl rand -hex 32`");
                }
                else
                {
                    config = config with { SessionKey = System.Text.Encoding.UTF8.GetBytes(key.Value) };
                }
            }
        }

        return config;
    }

    private List<McpServerConfig> ReadServers(JsonElement element, string path)
    {
        var servers = new List<McpServerConfig>();
        if (!ExpectObject(element, path))
        {
            return servers;
        }

        foreach (var property in UniqueProperties(element, path, StringComparer.Ordinal))
        {
            var serverPath = Child(path, property.Name);
            _declaredServers.Add(property.Name);
            var nameOk = CheckName(property.Name, serverPath, "server");
            if (nameOk && (property.Name.Contains("__", StringComparison.Ordinal) || property.Name.EndsWith('_')))
            {
                Error(serverPath, "a server name must not contain '__' or end with '_': '__' separates server and tool in tool names ({server}__{tool})");
                nameOk = false;
            }

            var server = ReadServer(property.Name, property.Value, serverPath);
            if (nameOk && server is not null)
            {
                servers.Add(server);
            }
        }

        return servers;
    }

    private McpServerConfig? ReadServer(string name, JsonElement element, string path)
    {
        if (!ExpectObject(element, path))
        {
            return null;
        }

        var errorsBefore = _errors.Count;
        string? type = null,
            typePath = null,
            transport = null,
            transportPath = null,
            command = null,
            cwd = null;
        string? argsPath = null,
            envPath = null,
            cwdPath = null,
            headersPath = null;
        Uri? url = null;
        bool hasCommand = false,
            hasUrl = false;
        IReadOnlyList<string> args = [];
        IReadOnlyDictionary<string, string> env = FrozenDictionary<string, string>.Empty;
        IReadOnlyDictionary<string, string> headers = FrozenDictionary<string, string>.Empty;
        var timeout = TimeSpan.FromSeconds(60);

        foreach (var property in KnownProperties(element, path, s_serverKeys))
        {
            var itemPath = Child(path, property.Name);
            switch (property.Name)
            {
                case "type":
                    typePath = itemPath;
                    type = ReadChoice(property.Value, itemPath, "stdio", "http", "streamable-http", "sse");
                    break;
                case "transport":
                    transportPath = itemPath;
                    transport = ReadChoice(property.Value, itemPath, "streamable-http", "sse");
                    break;
                case "command":
                    hasCommand = true;
                    if (TryReadString(property.Value, itemPath, out var commandText))
                    {
                        if (string.IsNullOrWhiteSpace(commandText.Value))
                        {
                            Error(itemPath, "expected a non-empty command");
                        }
                        else
                        {
                            command = commandText.Value;
                        }
                    }

                    break;
                case "args":
                    argsPath = itemPath;
                    args = ReadStringArray(property.Value, itemPath, null, null);
                    break;
                case "env":
                    envPath = itemPath;
                    env = ReadStringMap(
                        property.Value,
                        itemPath,
                        StringComparer.Ordinal,
                        IsEnvironmentKey,
                        "a variable name without '=' or NUL",
                        static value => !value.Contains('\0', StringComparison.Ordinal),
                        "a value without NUL characters"
                    );
                    break;
                case "cwd":
                    cwdPath = itemPath;
                    if (TryReadString(property.Value, itemPath, out var cwdText))
                    {
                        if (cwdText.Value.Length == 0)
                        {
                            Error(itemPath, "expected a non-empty directory path");
                        }
                        else
                        {
                            cwd = cwdText.Value;
                        }
                    }

                    break;
                case "url":
                    hasUrl = true;
                    if (TryReadString(property.Value, itemPath, out var urlText))
                    {
                        if (
                            Uri.TryCreate(urlText.Value, UriKind.Absolute, out var parsed)
                            && (parsed.Scheme == Uri.UriSchemeHttp || parsed.Scheme == Uri.UriSchemeHttps)
                            && parsed.Host.Length > 0
                        )
                        {
                            url = parsed;
                        }
                        else
                        {
                            Error(itemPath, $"expected an absolute http:// or https:// URL, got {urlText.Shown}");
                        }
                    }

                    break;
                case "headers":
                    headersPath = itemPath;
                    headers = ReadStringMap(
                        property.Value,
                        itemPath,
                        StringComparer.OrdinalIgnoreCase,
                        IsHeaderName,
                        "an HTTP header name (RFC 9110 token characters)",
                        static value => value.AsSpan().IndexOfAny('\r', '\n', '\0') < 0,
                        "a header value without CR, LF or NUL"
                    );
                    break;
                case "timeoutSeconds":
                    if (TryReadNumber(property.Value, itemPath, out var seconds))
                    {
                        if (seconds > 0 && seconds <= MaxTimeoutSeconds)
                        {
                            timeout = TimeSpan.FromSeconds(seconds);
                        }
                        else
                        {
                            Error(
                                itemPath,
                                "expected a number of seconds greater than 0 and at most "
                                    + $"{MaxTimeoutSeconds.ToString(CultureInfo.InvariantCulture)}, got {seconds.ToString(CultureInfo.InvariantCulture)}"
                            );
                        }
                    }

                    break;
            }
        }

        if (hasCommand == hasUrl)
        {
            Error(
                path,
                hasCommand
                    ? "has both command and url; expected exactly one: command for a local stdio server, url for a remote server"
                    : "expected exactly one of command (a local stdio server) or url (a remote server)"
            );
            return null;
        }

        if (hasCommand)
        {
            if (type is not null and not "stdio")
            {
                Error(typePath!, $"type '{type}' needs url, but this server has command; use type 'stdio' or remove type");
            }

            RejectFor(transportPath, "transport", "a remote server (url)");
            RejectFor(headersPath, "headers", "a remote server (url)");
        }
        else
        {
            if (type is "stdio")
            {
                Error(typePath!, "type 'stdio' needs command, but this server has url; use type 'http' or 'sse', or remove type");
            }
            else if ((type == "sse" && transport == "streamable-http") || (type == "streamable-http" && transport == "sse"))
            {
                Error(transportPath!, $"transport '{transport}' contradicts type '{type}' at {typePath}");
            }

            RejectFor(argsPath, "args", "a local server (command)");
            RejectFor(envPath, "env", "a local server (command)");
            RejectFor(cwdPath, "cwd", "a local server (command)");
        }

        if (_errors.Count != errorsBefore)
        {
            return null;
        }

        var kind =
            hasCommand ? McpServerKind.Stdio
            : type == "sse" || transport == "sse" ? McpServerKind.Sse
            : McpServerKind.StreamableHttp;

        return new McpServerConfig
        {
            Name = name,
            Kind = kind,
            Command = command,
            Args = args,
            Env = env,
            Cwd = cwd,
            Url = url,
            Headers = headers,
            Timeout = timeout,
        };
    }

    private void RejectFor(string? path, string key, string validFor)
    {
        if (path is not null)
        {
            Error(path, $"{key} is only valid for {validFor}");
        }
    }

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
            }
        }

        // Read after servers, whatever the key order, because tool names are checked against them.
        var toolSettings = tools is { } t
            ? ReadToolSettings(t, toolsPath!, serverNames, agentTools: llm is not null)
            : new Dictionary<string, ToolSettings>(StringComparer.Ordinal);

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
