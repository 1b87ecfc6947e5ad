using Archestra.Gateway.Configuration;
using Microsoft.Extensions.Logging;

namespace Archestra.Gateway.Tests.Infrastructure;

/// <summary>Runs the real gateway (Kestrel on loopback, ephemeral ports) in the test process.</summary>
internal sealed class GatewayHarness : IAsyncDisposable
{
    private GatewayHarness(GatewayServer server)
    {
        Server = server;
    }

    public GatewayServer Server { get; }

    public Uri BaseUrl => Server.GatewayUrl;

    public Uri McpUrl(string profile) => new(Server.GatewayUrl, $"/v1/mcp/{profile}");

    public static async Task<GatewayHarness> StartAsync(GatewayConfig config)
    {
        config = config with
        {
            Listen = new ListenConfig { Gateway = "http://127.0.0.1:0", Admin = "http://127.0.0.1:0", Metrics = "http://127.0.0.1:0" },
        };
        var server = await GatewayServer.StartAsync(config, CancellationToken.None, logging => logging.SetMinimumLevel(LogLevel.Warning));
        return new GatewayHarness(server);
    }

    public static McpServerConfig Stdio(string name, string command, params string[] args) => new()
    {
        Name = name,
        Kind = McpServerKind.Stdio,
        Command = command,
        Args = args,
    };

    public static McpServerConfig Http(string name, string url) => new()
    {
        Name = name,
        Kind = McpServerKind.StreamableHttp,
        Url = new Uri(url),
    };

    public static ProfileConfig Profile(string name, params string[] servers) => new() { Name = name, Servers = servers };

    public ValueTask DisposeAsync() => Server.DisposeAsync();
}
