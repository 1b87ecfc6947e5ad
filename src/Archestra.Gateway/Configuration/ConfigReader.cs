using System.Collections.Frozen;
using System.Globalization;
using System.Text.Json;
using Archestra.Policy;
using Archestra.Runtime.Kubernetes;

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
        "kubernetes",
        "telemetry",
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
    private static readonly string[] s_serverKeys =
    [
        "type",
        "command",
        "args",
        "env",
        "cwd",
        "url",
        "headers",
        "transport",
        "timeoutSeconds",
        "runtime",
        // The kubernetes runtime's (ConfigReader.Kubernetes.cs); spelled out because static fields of partial files
        // initialize in no defined order.
        "image",
        "port",
        "path",
        "resources",
        "replicas",
        "egress",
    ];
    private static readonly string[] s_profileKeys =
    [
        "servers",
        "tokens",
        "toolPrefix",
        "tools",
        "llm",
        "toolSelection",
        "builtinTools",
        "dynamicTools",
        "telemetry",
    ];

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
            llmProviders = null,
            kubernetes = null,
            telemetry = null;
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
                case "kubernetes":
                    kubernetes = property.Value;
                    break;
                case "telemetry":
                    telemetry = property.Value;
                    break;
                case "$schema":
                    break; // editor hint only
            }
        }

        var listenConfig = listen is { } l ? ReadListen(l, Child(path, "listen")) : new ListenConfig();
        var limitsConfig = limits is { } m ? ReadLimits(m, Child(path, "limits")) : new LimitsConfig();
        var securityConfig = security is { } s ? ReadSecurity(s, Child(path, "security")) : new SecurityConfig();
        // Before servers, which may run on it.
        var kubernetesConfig = kubernetes is { } k ? ReadKubernetes(k, Child(path, "kubernetes")) : null;
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
            Kubernetes = kubernetesConfig,
            Telemetry = telemetry is { } tm ? ReadTelemetry(tm, Child(path, "telemetry")) : new TelemetryConfig(),
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
            runtime = null,
            runtimePath = null,
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
        var kubernetesKeys = new List<JsonProperty>();

        foreach (var property in KnownProperties(element, path, s_serverKeys))
        {
            var itemPath = Child(path, property.Name);
            switch (property.Name)
            {
                case "runtime":
                    runtimePath = itemPath;
                    runtime = ReadChoice(property.Value, itemPath, "local", "kubernetes");
                    break;
                case "image" or "port" or "path" or "resources" or "replicas" or "egress":
                    kubernetesKeys.Add(property);
                    break;
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

        KubernetesServerSettings? onKubernetes = null;
        if (runtime == "kubernetes")
        {
            onKubernetes = ReadKubernetesServer(path, runtimePath!, kubernetesKeys, hasCommand, hasUrl);
            CheckSecretKeys(envPath, env);
            RejectFor(cwdPath, "cwd", "a local server (runtime local)");
        }
        else
        {
            RejectKubernetesKeys(path, kubernetesKeys);
        }

        if (onKubernetes is not null && !hasCommand && !hasUrl)
        {
            // An image that serves Streamable HTTP itself; args and env are its container's.
            if (type is not null and not "http" and not "streamable-http")
            {
                Error(typePath!, $"an image on runtime 'kubernetes' is reached over Streamable HTTP; type '{type}' does not fit, remove it");
            }

            RejectFor(transportPath, "transport", "a remote server (url)");
            RejectFor(headersPath, "headers", "a remote server (url)");
        }
        else if (hasCommand == hasUrl)
        {
            Error(
                path,
                hasCommand
                    ? "has both command and url; expected exactly one: command for a local stdio server, url for a remote server"
                    : "expected exactly one of command (a local stdio server) or url (a remote server)"
            );
            return null;
        }
        else if (hasCommand)
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
            Kubernetes = onKubernetes,
        };
    }

    private void RejectFor(string? path, string key, string validFor)
    {
        if (path is not null)
        {
            Error(path, $"{key} is only valid for {validFor}");
        }
    }
}
