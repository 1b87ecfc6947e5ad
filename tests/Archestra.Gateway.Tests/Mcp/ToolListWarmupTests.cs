using Archestra.Gateway.Configuration;
using Archestra.Gateway.Mcp;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp;

public sealed class ToolListWarmupTests
{
    private static readonly HttpClient Http = new();

    [Fact]
    public async Task The_tool_list_is_warm_without_any_client_listing_it()
    {
        // server-everything announces list_changed right after initialize; that used to discard the
        // start-up fetch, leaving calls unvalidated and labelled "_unlisted" until a client listed tools.
        await using var gateway = await GatewayHarness.StartAsync(
            new GatewayConfig { McpServers = [GatewayHarness.Stdio("e", Repo.Node, Repo.Everything, "stdio")], Profiles = [GatewayHarness.Profile("e", "e")] }
        );
        var entry = gateway.Server.Gateway.Entries["e"];
        for (var i = 0; i < 100 && entry.Cached(ListKind.Tools) is null; i++)
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        Assert.NotNull(entry.Cached(ListKind.Tools)?.Find("echo"u8));
        using var call = await Http.SendAsync(
            RawMcp.Post(gateway.McpUrl("e"), RawMcp.Call(1, "echo", """{"message":"w"}""")),
            TestContext.Current.CancellationToken
        );
        Assert.True((await RawMcp.ReadMessageAsync(call)).TryGetProperty("result", out _));
        var scrape = await Http.GetStringAsync(new Uri(gateway.Server.MetricsUrl, "/metrics"), TestContext.Current.CancellationToken);
        Assert.Contains("mcp_tool_calls_total{profile=\"e\",server=\"e\",tool=\"echo\",outcome=\"ok\"} 1\n", scrape, StringComparison.Ordinal);
    }
}
