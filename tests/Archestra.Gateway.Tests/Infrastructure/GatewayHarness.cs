using Archestra.Gateway.Configuration;
using Archestra.Policy;
using Microsoft.Extensions.Logging;

namespace Archestra.Gateway.Tests.Infrastructure;

/// <summary>Runs the real gateway (Kestrel on loopback, ephemeral ports) in the test process.</summary>
internal sealed class GatewayHarness : IAsyncDisposable
{
    private readonly string? _dataDirectory;

    private GatewayHarness(GatewayServer server, string? dataDirectory)
    {
        Server = server;
        _dataDirectory = dataDirectory;
    }

    public GatewayServer Server { get; }

    public Uri BaseUrl => Server.GatewayUrl;

    public Uri McpUrl(string profile) => new(Server.GatewayUrl, $"/v1/mcp/{profile}");

    /// <param name="enforceToolDefaults">
    /// False (transport tests): every tool may run in an untrusted context, so calling several tools in one
    /// session is not refused by the secure defaults. Policy tests pass true and configure what they test.
    /// </param>
    /// <param name="getEnv">The gateway's environment (e.g. ARCHESTRA_SECRET_KEY); the process environment when null.</param>
    public static async Task<GatewayHarness> StartAsync(GatewayConfig config, bool enforceToolDefaults = false, Func<string, string?>? getEnv = null)
    {
        config = config with
        {
            Listen = new ListenConfig
            {
                Gateway = "http://127.0.0.1:0",
                Admin = "http://127.0.0.1:0",
                Metrics = "http://127.0.0.1:0",
            },
        };
        if (!enforceToolDefaults)
        {
            config = config with { Policies = Permissive(config) };
        }

        // Each gateway gets its own embedded database and spill directory, so parallel tests never share them.
        string? dataDirectory = null;
        if (config.Storage.DataDirectory == new StorageConfig().DataDirectory)
        {
            dataDirectory = Directory.CreateTempSubdirectory("archestra-data-").FullName;
            config = config with { Storage = config.Storage with { DataDirectory = dataDirectory } };
        }

        var server = await GatewayServer.StartAsync(config, CancellationToken.None, logging => logging.SetMinimumLevel(LogLevel.Warning), getEnv);
        return new GatewayHarness(server, dataDirectory);
    }

    private static PolicySnapshot Permissive(GatewayConfig config)
    {
        var anyTool = new Dictionary<string, ToolSettings> { ["*"] = new ToolSettings(AllowUsageWhenUntrustedDataIsPresent: true) };
        var profiles = config.Profiles.Select(p => new ProfilePolicyInput(p.Name, p.Servers, anyTool)).ToList();
        var compiled = PolicyCompiler.Compile(config.PolicyDefinitions with { Profiles = profiles });
        return compiled.Snapshot ?? throw new InvalidOperationException(string.Join("\n", compiled.Errors));
    }

    public static McpServerConfig Stdio(string name, string command, params string[] args) =>
        new()
        {
            Name = name,
            Kind = McpServerKind.Stdio,
            Command = command,
            Args = args,
        };

    public static McpServerConfig Http(string name, string url) =>
        new()
        {
            Name = name,
            Kind = McpServerKind.StreamableHttp,
            Url = new Uri(url),
        };

    public static ProfileConfig Profile(string name, params string[] servers) => new() { Name = name, Servers = servers };

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        if (_dataDirectory is not null)
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
    }
}
