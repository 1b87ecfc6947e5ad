using Archestra.Gateway.Configuration;
using Archestra.Gateway.Core;
using Archestra.Gateway.Mcp;
using Archestra.Gateway.Metrics;
using Archestra.Gateway.Security;
using Archestra.Runtime.Upstreams;

namespace Archestra.Gateway.Bridge;

/// <summary>What <c>archestra bridge</c> runs: one stdio command served at one HTTP path.</summary>
internal sealed record BridgeOptions
{
    public const string DefaultListen = "http://0.0.0.0:8080";
    public const string DefaultPath = "/mcp";

    public required string Command { get; init; }
    public IReadOnlyList<string> Args { get; init; } = [];
    public string Listen { get; init; } = DefaultListen;
    public string Path { get; init; } = DefaultPath;

    /// <summary>Signs session ids (UTF-8 of ARCHESTRA_SESSION_KEY); null: a random key per process.</summary>
    public byte[]? SessionKey { get; init; }

    /// <summary>The server's environment: the bridge's whole environment, which in a pod is where its secrets are.</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();

    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// One stdio MCP server served as Streamable HTTP: the gateway's own endpoint over a one-server profile with no
/// prefix, no policies and no audit. Every client session shares the one process (ids rewritten, answers routed
/// back, server requests sent to the session whose call is running), exactly as the gateway does for its stdio
/// servers; tool, prompt and resource names pass through unchanged. A client sees what the server's own HTTP mode would
/// show: no built-in tools, and a call to a tool the server did not list reaches the server, which answers it.
/// </summary>
internal sealed class BridgeServer : IAsyncDisposable
{
    private const string ProfileName = "bridge";

    private readonly WebApplication _app;
    private readonly McpGateway _gateway;

    private BridgeServer(WebApplication app, McpGateway gateway)
    {
        _app = app;
        _gateway = gateway;
    }

    public Uri Url { get; private set; } = null!;

    /// <summary>True once the server answered its initialize: what <c>/readyz</c> reports.</summary>
    public bool Ready => _gateway.Profiles[ProfileName].Servers[0].Upstream.State == UpstreamState.Ready;

    /// <summary>
    /// The gateway configuration of a bridge. Every result is trusted and every tool usable after untrusted data: the
    /// gateway in front of the bridge decides on policy and trust, and a bridge that tracked trust per session would
    /// refuse calls the gateway allowed. Compiled by the configuration reader like any file, so it is a valid one.
    /// </summary>
    internal static GatewayConfig ConfigFor(BridgeOptions options)
    {
        const string json = """
            {
              "mcpServers": { "server": { "command": "bridged" } },
              "profiles": { "bridge": { "servers": ["server"], "builtinTools": "off", "dynamicTools": false,
                "tools": { "*": { "resultTreatment": "trusted", "allowUsageWhenUntrustedDataIsPresent": true } } } }
            }
            """;
        var loaded = ConfigLoader.LoadFromJson(json, "bridge", static _ => null);
        if (!loaded.Succeeded)
        {
            throw new InvalidOperationException("the bridge's own configuration is invalid: " + string.Join("; ", loaded.Errors));
        }

        var server = loaded.Config.McpServers[0] with { Command = options.Command, Args = options.Args, Env = options.Env, Timeout = options.Timeout };
        return loaded.Config with
        {
            Profiles = [loaded.Config.Profiles[0] with { ForwardUnlistedTools = true }],
            Listen = new ListenConfig { Gateway = options.Listen },
            Security = new SecurityConfig { SessionKey = options.SessionKey },
            McpServers = [server],
        };
    }

    public static async Task<BridgeServer> StartAsync(
        BridgeOptions options,
        CancellationToken cancellationToken,
        Action<ILoggingBuilder>? configureLogging = null
    )
    {
        var config = ConfigFor(options);
        var app = GatewayServer.Build(options.Listen, config.Limits, maxRequestBodyBytes: null, configureLogging);
        var gateway = new McpGateway(new GatewayState(config, new GatewayMetrics()), app.Services.GetRequiredService<ILoggerFactory>());
        var server = new BridgeServer(app, gateway);
        var endpoint = new McpEndpoint(gateway, new RequestGuard(config.Security));
        app.MapGet("/healthz", static () => Results.Text("ok\n"));
        app.MapGet("/readyz", (HttpContext context) =>
        {
            var ready = server.Ready;
            context.Response.StatusCode = ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
            return context.Response.WriteAsync(ready ? "ready\n" : "starting\n");
        });
        app.MapMethods(options.Path, ["POST", "GET", "DELETE", "PUT", "PATCH"], (HttpContext context) =>
        {
            context.Request.RouteValues["profile"] = ProfileName;
            return endpoint.HandleAsync(context);
        });

        await gateway.StartAsync(cancellationToken).ConfigureAwait(false);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        server.Url = GatewayServer.Address(app);
        return server;
    }

    public Task WaitForShutdownAsync(CancellationToken cancellationToken) => _app.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _app.StopAsync(cts.Token).ConfigureAwait(false);
        await _gateway.DisposeAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Runs until SIGINT/SIGTERM; the exit code.</summary>
    public static async Task<int> RunAsync(BridgeOptions options, CancellationToken cancellationToken)
    {
        BridgeServer server;
        try
        {
            server = await StartAsync(options, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            await Console.Error.WriteLineAsync($"archestra bridge: cannot listen on {options.Listen}: {ex.Message}").ConfigureAwait(false);
            return 1;
        }

        await using (server.ConfigureAwait(false))
        {
            await Console
                .Out.WriteLineAsync($"archestra {GatewayInfo.Version} bridge: {options.Command} served at {server.Url.ToString().TrimEnd('/')}{options.Path}")
                .ConfigureAwait(false);
            await server.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        }

        return 0;
    }
}
