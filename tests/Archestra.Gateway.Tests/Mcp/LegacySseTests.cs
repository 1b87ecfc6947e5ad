using System.Globalization;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp;

/// <summary>A remote server on the legacy HTTP+SSE transport (MCP 2024-11-05) behind the gateway.</summary>
public sealed class LegacySseTests
{
    private static readonly HttpClient Http = new();

    [Fact]
    public async Task A_legacy_sse_server_is_listed_and_called_through_streamable_http()
    {
        var port = Repo.FreePort();
        await using var server = ExternalProcess.Start(
            Repo.Node,
            [Repo.Everything, "sse"],
            new Dictionary<string, string> { ["PORT"] = port.ToString(CultureInfo.InvariantCulture) }
        );
        await server.WaitForPortAsync(port, TimeSpan.FromSeconds(30));
        await using var gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                McpServers =
                [
                    new McpServerConfig
                    {
                        Name = "old",
                        Kind = McpServerKind.Sse,
                        Url = new Uri($"http://127.0.0.1:{port}/sse"),
                    },
                ],
                Profiles = [GatewayHarness.Profile("old", "old")],
            }
        );

        using var list = await Http.SendAsync(
            RawMcp.Post(gateway.McpUrl("old"), """{"jsonrpc":"2.0","id":1,"method":"tools/list"}"""),
            TestContext.Current.CancellationToken
        );
        var tools = (await RawMcp.ReadMessageAsync(list))
            .GetProperty("result")
            .GetProperty("tools")
            .EnumerateArray()
            .Select(t => t.GetProperty("name").GetString())
            .ToList();
        Assert.Contains("echo", tools);

        using var call = await Http.SendAsync(
            RawMcp.Post(gateway.McpUrl("old"), RawMcp.Call("sse-1", "echo", """{"message":"legacy"}""")),
            TestContext.Current.CancellationToken
        );
        var message = await RawMcp.ReadMessageAsync(call);
        Assert.Equal("sse-1", message.GetProperty("id").GetString());
        Assert.Contains("Echo: legacy", message.GetProperty("result").GetRawText(), StringComparison.Ordinal);
    }
}
