using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp;

/// <summary>
/// The official server-everything twice, once as a stdio upstream the gateway spawns and once as a
/// Streamable HTTP server, both in the profile "mixed" (so names are prefixed), plus single-server profiles.
/// </summary>
public sealed class EverythingFixture : IAsyncLifetime
{
    private ExternalProcess? _httpServer;

    internal GatewayHarness Gateway { get; private set; } = null!;

    /// <summary>server-everything's own Streamable HTTP endpoint, for comparing the gateway with a direct connection.</summary>
    public Uri DirectUrl { get; private set; } = null!;

    public const string Token = "mixed-profile-token-1";

    public async ValueTask InitializeAsync()
    {
        var port = Repo.FreePort();
        _httpServer = ExternalProcess.Start(
            Repo.Node,
            [Repo.Everything, "streamableHttp"],
            new Dictionary<string, string> { ["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture) }
        );
        await _httpServer.WaitForPortAsync(port, TimeSpan.FromSeconds(30));
        DirectUrl = new Uri($"http://127.0.0.1:{port}/mcp");

        var config = new GatewayConfig
        {
            McpServers = [GatewayHarness.Stdio("local", Repo.Node, Repo.Everything, "stdio"), GatewayHarness.Http("remote", $"http://127.0.0.1:{port}/mcp")],
            Profiles =
            [
                GatewayHarness.Profile("mixed", "local", "remote"),
                GatewayHarness.Profile("only-local", "local"),
                new ProfileConfig
                {
                    Name = "secured",
                    Servers = ["remote"],
                    TokenHashes = [System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(Token))],
                },
            ],
        };
        Gateway = await GatewayHarness.StartAsync(config);
    }

    public async ValueTask DisposeAsync()
    {
        if (Gateway is not null)
        {
            await Gateway.DisposeAsync();
        }

        if (_httpServer is not null)
        {
            await _httpServer.DisposeAsync();
        }
    }
}
