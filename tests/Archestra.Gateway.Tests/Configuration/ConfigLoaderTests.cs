using System.Security.Cryptography;
using System.Text;
using Archestra.Gateway.Configuration;

namespace Archestra.Gateway.Tests.Configuration;

public class ConfigLoaderTests
{
    private const string Source = "test.json";

    private static readonly Dictionary<string, string> s_env = new()
    {
        ["MY_K"] = "secret-k",
        ["REMOTE_AUTH"] = "Bearer abc",
        ["TOKEN_VAR"] = "tok-123",
        ["EMPTY"] = "",
        ["PORTLESS"] = "http://127.0.0.1",
        ["NOT_A_NUMBER"] = "lots",
        ["SESSIONS"] = "42",
        ["SECRET_URL"] = "ftp://user:hunter2@example.com",
    };

    private static ConfigLoadResult Load(string json) => ConfigLoader.LoadFromJson(json, Source, name => s_env.TryGetValue(name, out var value) ? value : null);

    private static GatewayConfig Valid(string json)
    {
        var result = Load(json);
        Assert.Empty(result.Errors);
        Assert.True(result.Succeeded);
        return result.Config;
    }

    private const string FullExample = """
        {
          // comments and trailing commas are allowed
          "$schema": "https://example.com/archestra.schema.json",
          "listen": {"gateway": "http://127.0.0.1:9100", "admin": "http://[::1]:9101/", "metrics": "http://0.0.0.0:9150"},
          "limits": {"maxRequestBodyBytes": 1048576, "sessionIdleTimeoutSeconds": 600, "maxSessions": "env:SESSIONS",
            "maxAdminRequestBodyBytes": 65536, "minRequestBodyBytesPerSecond": 50, "requestBodyGracePeriodSeconds": 10},
          "security": {"allowedOrigins": ["https://app.example.com", "http://localhost:3000", "*"], "allowedHosts": ["gateway.internal",
            "gw.example.com:8443"]},
          "mcpServers": {
             "files": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"], "env": {"K": "env:MY_K"},
               "cwd": "/tmp", "timeoutSeconds": 30},
             "remote": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "env:REMOTE_AUTH"}, "transport": "sse", "timeoutSeconds": 0.5},
             "pasted-vscode": {"type": "http", "url": "http://localhost:8080/mcp"},
             "pasted_stdio": {"type": "stdio", "command": "uvx", "args": ["mcp-server-time"]},
          },
          "profiles": {
            "default": {"servers": ["files", "remote"], "tokens": ["env:TOKEN_VAR",
              "sha256:00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff"], "toolPrefix": "always"},
            "open": {"servers": ["pasted-vscode"]},
          },
        }
        """;

    [Fact]
    public void The_documented_example_loads_with_every_field_resolved()
    {
        var config = Valid(FullExample);

        Assert.Equal(Source, config.SourcePath);
        Assert.Equal("http://127.0.0.1:9100", config.Listen.Gateway);
        Assert.Equal("http://[::1]:9101/", config.Listen.Admin);
        Assert.Equal("http://0.0.0.0:9150", config.Listen.Metrics);
        Assert.Equal(1048576, config.Limits.MaxRequestBodyBytes);
        Assert.Equal(TimeSpan.FromMinutes(10), config.Limits.SessionIdleTimeout);
        Assert.Equal(42, config.Limits.MaxSessions);
        Assert.Equal(65536, config.Limits.MaxAdminRequestBodyBytes);
        Assert.Equal(50, config.Limits.MinRequestBodyBytesPerSecond);
        Assert.Equal(TimeSpan.FromSeconds(10), config.Limits.RequestBodyGracePeriod);
        Assert.Equal(["https://app.example.com", "http://localhost:3000", "*"], config.Security.AllowedOrigins);
        Assert.Equal(["gateway.internal", "gw.example.com:8443"], config.Security.AllowedHosts);

        Assert.Equal(["files", "remote", "pasted-vscode", "pasted_stdio"], config.McpServers.Select(s => s.Name));
        var files = config.McpServers[0];
        Assert.Equal(McpServerKind.Stdio, files.Kind);
        Assert.Equal("npx", files.Command);
        Assert.Equal(["-y", "@modelcontextprotocol/server-filesystem", "/tmp"], files.Args);
        Assert.Equal("secret-k", files.Env["K"]);
        Assert.Equal("/tmp", files.Cwd);
        Assert.Equal(TimeSpan.FromSeconds(30), files.Timeout);
        Assert.Null(files.Url);

        var remote = config.McpServers[1];
        Assert.Equal(McpServerKind.Sse, remote.Kind);
        Assert.Equal(new Uri("https://mcp.example.com/mcp"), remote.Url);
        Assert.Equal("Bearer abc", remote.Headers["authorization"]);
        Assert.Equal(TimeSpan.FromMilliseconds(500), remote.Timeout);
        Assert.Null(remote.Command);

        Assert.Equal(McpServerKind.StreamableHttp, config.McpServers[2].Kind);
        Assert.Equal(TimeSpan.FromSeconds(60), config.McpServers[2].Timeout);
        Assert.Equal(McpServerKind.Stdio, config.McpServers[3].Kind);

        var profile = config.Profiles[0];
        Assert.Equal("default", profile.Name);
        Assert.Equal(["files", "remote"], profile.Servers);
        Assert.Equal(ToolPrefixMode.Always, profile.ToolPrefix);
        Assert.Equal(2, profile.TokenHashes.Count);
        Assert.Equal(SHA256.HashData(Encoding.UTF8.GetBytes("tok-123")), profile.TokenHashes[0]);
        Assert.Equal(Convert.FromHexString("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"), profile.TokenHashes[1]);

        Assert.Equal(ToolPrefixMode.Multiplex, config.Profiles[1].ToolPrefix);
        Assert.Empty(config.Profiles[1].TokenHashes);
    }

    [Fact]
    public void An_empty_object_gives_the_defaults()
    {
        var config = Valid("{}");
        Assert.Equal(new ListenConfig(), config.Listen);
        Assert.Equal(new LimitsConfig(), config.Limits);
        Assert.Empty(config.Security.AllowedOrigins);
        Assert.Empty(config.McpServers);
        Assert.Empty(config.Profiles);
    }

    [Theory]
    [InlineData("""{"type": "streamable-http", "url": "https://x.example/mcp"}""", McpServerKind.StreamableHttp)]
    [InlineData("""{"type": "sse", "url": "https://x.example/sse"}""", McpServerKind.Sse)]
    [InlineData("""{"type": "http", "url": "https://x.example/sse", "transport": "sse"}""", McpServerKind.Sse)]
    [InlineData("""{"url": "http://x.example:8080/mcp", "transport": "streamable-http"}""", McpServerKind.StreamableHttp)]
    [InlineData("""{"command": "node", "type": "stdio"}""", McpServerKind.Stdio)]
    public void Server_type_and_transport_select_the_kind(string server, McpServerKind expected)
    {
        var config = Valid("""{"mcpServers": {"s": """ + server + "}}");
        Assert.Equal(expected, config.McpServers[0].Kind);
    }

    public static TheoryData<string, string> InvalidConfigs =>
        new()
        {
            // document shape
            { "[]", "$: expected an object, got an array" },
            { """{"listen": []}""", "$.listen: expected an object, got an array" },
            { """{"mcpServers": {"a": "npx"}}""", "$.mcpServers.a: expected an object, got a string" },
            // unknown and duplicate keys at every level
            {
                """{"servers": {}}""",
                "$.servers: unknown key; expected one of: $schema, listen, limits, security, mcpServers, profiles, policies, database, storage, "
                    + "adminKeys, llmProviders, kubernetes, telemetry"
            },
            { """{"listen": {"gateway": "http://127.0.0.1:1", "gatewya": "x"}}""", "$.listen.gatewya: unknown key; expected one of: gateway, admin, metrics" },
            {
                """{"limits": {"maxBody": 1}}""",
                "$.limits.maxBody: unknown key; expected one of: maxRequestBodyBytes, sessionIdleTimeoutSeconds, maxSessions, "
                    + "approvalTimeoutSeconds, maxAdminRequestBodyBytes, minRequestBodyBytesPerSecond, requestBodyGracePeriodSeconds"
            },
            { """{"security": {"cors": 1}}""", "$.security.cors: unknown key; expected one of: allowedOrigins, allowedHosts, sessionKey" },
            {
                """{"mcpServers": {"a": {"command": "x", "envFile": ".env"}}}""",
                "$.mcpServers.a.envFile: unknown key; expected one of: type, command, args, env, cwd, url, headers, transport, timeoutSeconds, "
                    + "runtime, image, port, path, resources, replicas, egress"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"], "token": []}}}""",
                "$.profiles.p.token: unknown key; expected one of: servers, tokens, toolPrefix, tools, llm, "
                    + "toolSelection, builtinTools, dynamicTools, telemetry"
            },
            { """{"listen": {}, "listen": {}}""", "$.listen: duplicate key" },
            { """{"mcpServers": {"a": {"command": "x"}, "a": {"command": "y"}}}""", "$.mcpServers.a: duplicate key" },
            { """{"mcpServers": {"a": {"url": "http://h/", "headers": {"X-A": "1", "x-a": "2"}}}}""", "$.mcpServers.a.headers.x-a: duplicate key" },
            // env references
            {
                """{"mcpServers": {"files": {"command": "x", "args": ["a", "env:NOPE"]}}}""",
                "$.mcpServers.files.args[1]: environment variable NOPE is not set"
            },
            {
                """{"mcpServers": {"files": {"command": "x", "env": {"K": "env:MISSING_K"}}}}""",
                "$.mcpServers.files.env.K: environment variable MISSING_K is not set"
            },
            {
                """{"listen": {"admin": "env:"}}""",
                "$.listen.admin: expected env:NAME with NAME made of letters, digits and '_' (not starting with a digit), got 'env:'"
            },
            {
                """{"listen": {"admin": "env:1X"}}""",
                "$.listen.admin: expected env:NAME with NAME made of letters, digits and '_' (not starting with a digit), got 'env:1X'"
            },
            // value kinds
            { """{"mcpServers": {"files": {"command": "x", "args": ["a", 1]}}}""", "$.mcpServers.files.args[1]: expected a string, got a number" },
            { """{"mcpServers": {"files": {"command": "x", "args": "a b"}}}""", "$.mcpServers.files.args: expected an array of strings, got a string" },
            { """{"mcpServers": {"files": {"command": null}}}""", "$.mcpServers.files.command: expected a string, got null" },
            { """{"mcpServers": {"files": {"command": ""}}}""", "$.mcpServers.files.command: expected a non-empty command" },
            { """{"mcpServers": {"files": {"command": "x", "cwd": ""}}}""", "$.mcpServers.files.cwd: expected a non-empty directory path" },
            // limits
            { """{"limits": {"maxRequestBodyBytes": 0}}""", "$.limits.maxRequestBodyBytes: expected an integer between 1 and 9223372036854775807, got 0" },
            { """{"limits": {"maxSessions": 1.5}}""", "$.limits.maxSessions: expected an integer between 1 and 2147483647, got 1.5" },
            { """{"limits": {"maxSessions": "100"}}""", "$.limits.maxSessions: expected an integer, got a string" },
            {
                """{"limits": {"maxSessions": "env:NOT_A_NUMBER"}}""",
                "$.limits.maxSessions: expected an integer between 1 and 2147483647, got the value of NOT_A_NUMBER"
            },
            { """{"limits": {"sessionIdleTimeoutSeconds": -5}}""", "$.limits.sessionIdleTimeoutSeconds: expected an integer between 1 and 2147483647, got -5" },
            { """{"limits": {"sessionIdleTimeoutSeconds": true}}""", "$.limits.sessionIdleTimeoutSeconds: expected an integer, got a boolean" },
            // listen addresses
            {
                """{"listen": {"gateway": "127.0.0.1:9000"}}""",
                "$.listen.gateway: expected an absolute http:// URL with an explicit port and no path, such as http://127.0.0.1:9000, got '127.0.0.1:9000'"
            },
            {
                """{"listen": {"gateway": "http://127.0.0.1"}}""",
                "$.listen.gateway: expected an absolute http:// URL with an explicit port and no path, such as http://127.0.0.1:9000, got 'http://127.0.0.1'"
            },
            {
                """{"listen": {"gateway": "https://127.0.0.1:9000"}}""",
                "$.listen.gateway: expected an absolute http:// URL with an explicit port and no path, such as http://127.0.0.1:9000, got "
                    + "'https://127.0.0.1:9000'"
            },
            {
                """{"listen": {"gateway": "http://127.0.0.1:9000/mcp"}}""",
                "$.listen.gateway: expected an absolute http:// URL with an explicit port and no path, such as http://127.0.0.1:9000, got "
                    + "'http://127.0.0.1:9000/mcp'"
            },
            {
                """{"listen": {"gateway": "http://127.0.0.1:70000"}}""",
                "$.listen.gateway: expected an absolute http:// URL with an explicit port and no path, such as http://127.0.0.1:9000, got "
                    + "'http://127.0.0.1:70000'"
            },
            {
                """{"listen": {"metrics": "env:PORTLESS"}}""",
                "$.listen.metrics: expected an absolute http:// URL with an explicit port and no path, such as http://127.0.0.1:9000, got the value of PORTLESS"
            },
            {
                """{"listen": {"gateway": "http://127.0.0.1:9000", "admin": "http://127.0.0.1:9000"}}""",
                "$.listen.admin: the same address as $.listen.gateway; each listener needs its own port"
            },
            // security
            {
                """{"security": {"allowedOrigins": ["https://app.example.com/"]}}""",
                "$.security.allowedOrigins[0]: expected an origin such as https://app.example.com (scheme://host[:port], no path or "
                    + "trailing '/') or *, got 'https://app.example.com/'"
            },
            {
                """{"security": {"allowedOrigins": ["app.example.com"]}}""",
                "$.security.allowedOrigins[0]: expected an origin such as https://app.example.com (scheme://host[:port], no path or "
                    + "trailing '/') or *, got 'app.example.com'"
            },
            {
                """{"security": {"allowedHosts": ["http://gateway.internal"]}}""",
                "$.security.allowedHosts[0]: expected a host name such as gateway.internal, optionally with :port, got 'http://gateway.internal'"
            },
            // policies and tool settings (structure; meanings are checked by the policy compiler)
            { """{"policies": {"toolInvocations": []}}""", "$.policies.toolInvocations: unknown key; expected one of: toolInvocation, trustedData" },
            { """{"policies": {"toolInvocation": {}}}""", "$.policies.toolInvocation: expected an array of policies, got an object" },
            {
                """{"policies": {"toolInvocation": [{"tool": "a__b", "action": "block_always"}]}}""",
                "$.policies.toolInvocation[0]: missing id: a unique policy id, e.g. \"no-mail-after-web\""
            },
            {
                """{"policies": {"toolInvocation": [{"id": 7, "tool": "a__b", "action": "block_always"}]}}""",
                "$.policies.toolInvocation[0].id: expected a string, got a number"
            },
            {
                """{"policies": {"trustedData": [{"id": "x", "tool": "a__b", "action": "block_always", "when": []}]}}""",
                "$.policies.trustedData[0].when: unknown key; expected one of: id, tool, profiles, conditions, action, reason"
            },
            {
                """{"policies": {"toolInvocation": [{"id": "x", "tool": "a__b", "action": "block_always", "conditions": [{"key": "k","""
                    + """ "operator": "equal", "value": {}}]}]}}""",
                "$.policies.toolInvocation[0].conditions[0].value: expected a string, number, boolean or null, got an object"
            },
            {
                """{"policies": {"toolInvocation": [{"id": "x", "tool": "a__b", "action": "block_always", "conditions": [{"key": "k", "value": "v"}]}]}}""",
                "$.policies.toolInvocation[0].conditions[0]: missing operator: equal, notEqual, contains, notContains, startsWith, endsWith or regex"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"], "tools": {"read": {}}}}}""",
                "$.profiles.p.tools.read: expected a namespaced tool name {server}__{tool} (e.g. files__read_file), {server}__* for every "
                    + "tool of a server, or * for every tool of the profile"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"], "tools": {"b__read": {}}}}}""",
                "$.profiles.p.tools.b__read: server 'b' is not in this profile's servers (a)"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"], "tools": {"a__read": {"resultTreatment": "safe"}}}}}""",
                "$.profiles.p.tools.a__read.resultTreatment: expected one of trusted, untrusted, sanitize_with_dual_llm, got 'safe'"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"], "tools": {"a__read": """
                    + """{"allowUsageWhenUntrustedDataIsPresent": "yes"}}}}}""",
                "$.profiles.p.tools.a__read.allowUsageWhenUntrustedDataIsPresent: expected true or false, got a string"
            },
            // policy meanings, from the policy compiler, placed at the policy's JSON path
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"]}}, "policies": {"toolInvocation": ["""
                    + """{"id": "typo", "tool": "a__t", "action": "block_always", "conditions": [{"key": "k", "operator": "matches", "value": "v"}]}]}}""",
                "$.policies.toolInvocation[0].conditions[0].operator: unknown operator \"matches\"; expected one of equal, notEqual, "
                    + "contains, notContains, startsWith, endsWith, regex (policy \"typo\")"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"]}}, "policies": {"toolInvocation": ["""
                    + """{"id": "look", "tool": "a__t", "action": "block_always", "conditions": [{"key": "k", "operator": "regex", "value": "(?<=x)y"}]}]}}""",
                "$.policies.toolInvocation[0].conditions[0].value: regex \"(?<=x)y\" uses a construct the non-backtracking engine cannot "
                    + "run (backreferences, lookarounds, atomic groups, conditionals); rewrite it without them (policy \"look\")"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"]}}, "policies": {"toolInvocation": ["""
                    + """{"id": "brk", "tool": "a__t", "action": "block_always", "conditions": [{"key": "to[x", "operator": "equal", "value": "v"}]}]}}""",
                "$.policies.toolInvocation[0].conditions[0].key: invalid key path \"to[x\": unbalanced '[' at position 2 (policy \"brk\")"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"]}}, "policies": {"trustedData": ["""
                    + """{"id": "srv", "tool": "b__t", "action": "mark_as_trusted"}]}}""",
                "$.policies.trustedData[0].tool: unknown server \"b\": no profile exposes it (policy \"srv\")"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"]}}, "policies": {"trustedData": ["""
                    + """{"id": "act", "tool": "a__t", "action": "block_when_context_is_untrusted"}]}}""",
                "$.policies.trustedData[0].action: unknown action \"block_when_context_is_untrusted\"; expected one of mark_as_trusted, "
                    + "mark_as_untrusted, block_always, sanitize_with_dual_llm (policy \"act\")"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"]}}, "policies": {"toolInvocation": ["""
                    + """{"id": "prof", "tool": "a__t", "action": "block_always", "profiles": ["q"]}]}}""",
                "$.policies.toolInvocation[0].profiles[0]: unknown profile \"q\" (policy \"prof\")"
            },
            { """{"limits": {"approvalTimeoutSeconds": 0}}""", "$.limits.approvalTimeoutSeconds: expected an integer between 1 and 86400, got 0" },
            { """{"limits": {"requestBodyGracePeriodSeconds": 1}}""", "$.limits.requestBodyGracePeriodSeconds: expected an integer between 2 and 3600, got 1" },
            {
                """{"limits": {"maxAdminRequestBodyBytes": 0}}""",
                "$.limits.maxAdminRequestBodyBytes: expected an integer between 1 and 9223372036854775807, got 0"
            },
            // servers
            {
                """{"mcpServers": {"files": {"command": "x", "url": "http://h/"}}}""",
                "$.mcpServers.files: has both command and url; expected exactly one: command for a local stdio server, url for a remote server"
            },
            {
                """{"mcpServers": {"files": {"args": ["x"]}}}""",
                "$.mcpServers.files: expected exactly one of command (a local stdio server) or url (a remote server)"
            },
            {
                """{"mcpServers": {"bad name": {"command": "x"}}}""",
                "$.mcpServers['bad name']: a server name must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'"
            },
            { """{"mcpServers": {"it's": {"command": "x"}}}""", "$.mcpServers['it\\'s']: a server name must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'" },
            { """{"mcpServers": {"": {"command": "x"}}}""", "$.mcpServers['']: a server name must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'" },
            {
                "{\"mcpServers\": {\"" + new string('a', 65) + "\": {\"command\": \"x\"}}}",
                $"$.mcpServers.{new string('a', 65)}: a server name must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'"
            },
            {
                """{"mcpServers": {"my__files": {"command": "x"}}}""",
                "$.mcpServers.my__files: a server name must not contain '__' or end with '_': '__' separates server and tool in tool names ({server}__{tool})"
            },
            {
                """{"mcpServers": {"files_": {"command": "x"}}}""",
                "$.mcpServers.files_: a server name must not contain '__' or end with '_': '__' separates server and tool in tool names ({server}__{tool})"
            },
            { """{"mcpServers": {"r": {"url": "ftp://h/x"}}}""", "$.mcpServers.r.url: expected an absolute http:// or https:// URL, got 'ftp://h/x'" },
            { """{"mcpServers": {"r": {"url": "/mcp"}}}""", "$.mcpServers.r.url: expected an absolute http:// or https:// URL, got '/mcp'" },
            {
                """{"mcpServers": {"r": {"url": "env:SECRET_URL"}}}""",
                "$.mcpServers.r.url: expected an absolute http:// or https:// URL, got the value of SECRET_URL"
            },
            {
                """{"mcpServers": {"r": {"url": "http://h/", "transport": "websocket"}}}""",
                "$.mcpServers.r.transport: expected one of streamable-http, sse, got 'websocket'"
            },
            {
                """{"mcpServers": {"r": {"url": "http://h/", "type": "ws"}}}""",
                "$.mcpServers.r.type: expected one of stdio, http, streamable-http, sse, got 'ws'"
            },
            {
                """{"mcpServers": {"r": {"url": "http://h/", "type": "stdio"}}}""",
                "$.mcpServers.r.type: type 'stdio' needs command, but this server has url; use type 'http' or 'sse', or remove type"
            },
            {
                """{"mcpServers": {"l": {"command": "x", "type": "sse"}}}""",
                "$.mcpServers.l.type: type 'sse' needs url, but this server has command; use type 'stdio' or remove type"
            },
            {
                """{"mcpServers": {"r": {"url": "http://h/", "type": "sse", "transport": "streamable-http"}}}""",
                "$.mcpServers.r.transport: transport 'streamable-http' contradicts type 'sse' at $.mcpServers.r.type"
            },
            {
                """{"mcpServers": {"l": {"command": "x", "transport": "sse"}}}""",
                "$.mcpServers.l.transport: transport is only valid for a remote server (url)"
            },
            { """{"mcpServers": {"l": {"command": "x", "headers": {}}}}""", "$.mcpServers.l.headers: headers is only valid for a remote server (url)" },
            { """{"mcpServers": {"r": {"url": "http://h/", "args": []}}}""", "$.mcpServers.r.args: args is only valid for a local server (command)" },
            { """{"mcpServers": {"r": {"url": "http://h/", "env": {}}}}""", "$.mcpServers.r.env: env is only valid for a local server (command)" },
            { """{"mcpServers": {"r": {"url": "http://h/", "cwd": "/"}}}""", "$.mcpServers.r.cwd: cwd is only valid for a local server (command)" },
            {
                """{"mcpServers": {"r": {"url": "http://h/", "headers": {"Bad Header": "x"}}}}""",
                "$.mcpServers.r.headers['Bad Header']: expected an HTTP header name (RFC 9110 token characters) as the key"
            },
            {
                """{"mcpServers": {"r": {"url": "http://h/", "headers": {"X": "a\nb"}}}}""",
                "$.mcpServers.r.headers.X: expected a header value without CR, LF or NUL"
            },
            {
                """{"mcpServers": {"l": {"command": "x", "env": {"A=B": "x"}}}}""",
                "$.mcpServers.l.env['A=B']: expected a variable name without '=' or NUL as the key"
            },
            {
                """{"mcpServers": {"l": {"command": "x", "timeoutSeconds": 0}}}""",
                "$.mcpServers.l.timeoutSeconds: expected a number of seconds greater than 0 and at most 3600, got 0"
            },
            {
                """{"mcpServers": {"l": {"command": "x", "timeoutSeconds": 3601}}}""",
                "$.mcpServers.l.timeoutSeconds: expected a number of seconds greater than 0 and at most 3600, got 3601"
            },
            { """{"mcpServers": {"l": {"command": "x", "timeoutSeconds": "30"}}}""", "$.mcpServers.l.timeoutSeconds: expected a number, got a string" },
            // profiles
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p q": {"servers": ["a"]}}}""",
                "$.profiles['p q']: a profile name must be 1-64 characters of A-Z, a-z, 0-9, '_' and '-'"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {}}}""",
                "$.profiles.p: expected servers: a non-empty array of server names from $.mcpServers (or an llm section)"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": []}}}""",
                "$.profiles.p.servers: expected at least one server name; a profile without servers serves nothing"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": "a"}}}""",
                "$.profiles.p.servers: expected a non-empty array of server names, got a string"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}, "b": {"command": "y"}}, "profiles": {"p": {"servers": ["a", "c"]}}}""",
                "$.profiles.p.servers[1]: unknown server 'c'; expected one of: a, b"
            },
            { """{"profiles": {"p": {"servers": ["a"]}}}""", "$.profiles.p.servers[0]: unknown server 'a'; no servers are configured in $.mcpServers" },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a", "a"]}}}""",
                "$.profiles.p.servers[1]: server 'a' is listed twice"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"], "toolPrefix": "never"}}}""",
                "$.profiles.p.toolPrefix: expected one of multiplex, always, got 'never'"
            },
            // tokens
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"], "tokens": ["hunter2"]}}}""",
                "$.profiles.p.tokens[0]: secrets are never written inline: use env:NAME or sha256:HEX"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"], "tokens": ["sha256:abc"]}}}""",
                "$.profiles.p.tokens[0]: expected sha256: followed by 64 hex digits (the SHA-256 of the token)"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"], "tokens": """
                    + """["sha256:zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"]}}}""",
                "$.profiles.p.tokens[0]: expected sha256: followed by 64 hex digits (the SHA-256 of the token)"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"], "tokens": ["env:NO_TOKEN"]}}}""",
                "$.profiles.p.tokens[0]: environment variable NO_TOKEN is not set"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"], "tokens": ["env:EMPTY"]}}}""",
                "$.profiles.p.tokens[0]: environment variable EMPTY is empty; expected a non-empty token"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"], "tokens": [7]}}}""",
                "$.profiles.p.tokens[0]: expected a string (env:NAME or sha256:HEX), got a number"
            },
            {
                """{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"], "tokens": "env:TOKEN_VAR"}}}""",
                "$.profiles.p.tokens: expected an array of env:NAME or sha256:HEX token references, got a string"
            },
        };

    [Theory]
    [MemberData(nameof(InvalidConfigs))]
    public void An_invalid_config_reports_the_json_path_and_what_was_expected(string json, string expected)
    {
        var result = Load(json);
        Assert.False(result.Succeeded);
        Assert.Null(result.Config);
        Assert.Equal([$"{Source}: {expected}"], result.Errors);
    }

    [Fact]
    public void Every_error_is_reported_not_just_the_first()
    {
        var result = Load(
            """
            {
              "listen": {"gateway": "nope"},
              "limits": {"maxSessions": 0},
              "mcpServers": {
                "a": {"command": "x", "args": [1]},
                "b": {"url": "ftp://x"},
                "c": {"command": "x", "extra": true}
              },
              "profiles": {"p": {"servers": ["a", "zzz"], "tokens": ["inline"]}}
            }
            """
        );

        Assert.Equal(
            [
                "test.json: $.listen.gateway: expected an absolute http:// URL with an explicit port and no path, such as http://127.0.0.1:9000, got 'nope'",
                "test.json: $.limits.maxSessions: expected an integer between 1 and 2147483647, got 0",
                "test.json: $.mcpServers.a.args[0]: expected a string, got a number",
                "test.json: $.mcpServers.b.url: expected an absolute http:// or https:// URL, got 'ftp://x'",
                "test.json: $.mcpServers.c.extra: unknown key; expected one of: type, command, args, env, cwd, url, headers, transport, "
                    + "timeoutSeconds, runtime, image, port, path, resources, replicas, egress",
                "test.json: $.profiles.p.servers[1]: unknown server 'zzz'; expected one of: a, b, c",
                "test.json: $.profiles.p.tokens[0]: secrets are never written inline: use env:NAME or sha256:HEX",
            ],
            result.Errors
        );
    }

    [Fact]
    public void A_server_with_its_own_errors_is_not_also_reported_as_unknown_by_profiles()
    {
        var result = Load("""{"mcpServers": {"a": {"command": 1}}, "profiles": {"p": {"servers": ["a"]}}}""");
        Assert.Equal(["test.json: $.mcpServers.a.command: expected a string, got a number"], result.Errors);
    }

    [Fact]
    public void Secrets_from_the_environment_never_appear_in_messages()
    {
        var result = Load("""{"mcpServers": {"r": {"url": "env:SECRET_URL"}}}""");
        Assert.DoesNotContain(result.Errors, e => e.Contains("hunter2", StringComparison.Ordinal));
        result = Load("""{"mcpServers": {"a": {"command": "x"}}, "profiles": {"p": {"servers": ["a"], "tokens": ["hunter2"]}}}""");
        Assert.DoesNotContain(result.Errors, e => e.Contains("hunter2", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(
        "{\n  \"listen\": {\n    \"gateway\": \"http://x:1\"\n    \"admin\": 1\n  }\n}",
        "line 4, column 5: expected ',' between two values or properties"
    )]
    [InlineData("{\"a\": }", "line 1, column 7: unexpected '}'")]
    [InlineData("{'a': 1}", "line 1, column 2: unexpected '''")]
    [InlineData("{\"a\": 1", "line 1, column 8: unexpected end of input; an object, array or string is not closed")]
    [InlineData("{\"a\": \"\u00e9\u00e9\" x}", "line 1, column 12: unexpected 'x'")]
    [InlineData("", "line 1, column 1: unexpected end of input; an object, array or string is not closed")]
    public void Malformed_json_reports_line_and_column(string json, string expected)
    {
        var result = Load(json);
        Assert.Equal([$"test.json: malformed JSON at {expected}"], result.Errors);
    }

    [Fact]
    public void A_missing_file_is_a_clear_error()
    {
        var path = Path.Combine(Path.GetTempPath(), $"archestra-missing-{Guid.NewGuid():N}.json");
        var result = ConfigLoader.Load(path, _ => null);
        Assert.Equal([$"{path}: configuration file not found (looked for {path})"], result.Errors);
    }

    [Fact]
    public void A_directory_is_not_a_config_file()
    {
        var path = Path.GetTempPath();
        var result = ConfigLoader.Load(path, _ => null);
        Assert.Equal([$"{path}: is a directory; expected a JSON configuration file"], result.Errors);
    }

    [Fact]
    public void Load_reads_the_file_and_names_it_in_errors_and_the_config()
    {
        var path = Path.Combine(Path.GetTempPath(), $"archestra-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, "{\"mcpServers\": {\"a\": {\"command\": \"x\"}}}", new UTF8Encoding(encoderShouldEmitUTF8Identifier: true));
            var ok = ConfigLoader.Load(path, _ => null);
            Assert.True(ok.Succeeded);
            Assert.Equal(path, ok.Config.SourcePath);

            File.WriteAllText(path, """{"mcpServers": {"a": {}}}""");
            var bad = ConfigLoader.Load(path, _ => null);
            Assert.Equal([$"{path}: $.mcpServers.a: expected exactly one of command (a local stdio server) or url (a remote server)"], bad.Errors);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("http://127.0.0.1:9000", true)]
    [InlineData("http://localhost:0", true)]
    [InlineData("http://[::]:9000", true)]
    [InlineData("http://*:9000", true)]
    [InlineData("http://+:9000/", true)]
    [InlineData("HTTP://gateway.internal:80", true)]
    [InlineData("http://[::1]", false)]
    [InlineData("http://:9000", false)]
    [InlineData("http://host:", false)]
    [InlineData("http://host:9000?x", false)]
    [InlineData("http://user@host:9000", false)]
    [InlineData("http://host:-1", false)]
    public void Listen_addresses_need_http_and_an_explicit_port(string address, bool valid)
    {
        Assert.Equal(valid, ConfigReader.TryParseListenAddress(address, out _));
    }
}
