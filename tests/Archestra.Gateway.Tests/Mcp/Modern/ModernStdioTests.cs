using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace Archestra.Gateway.Tests.Mcp.Modern;

/// <summary>
/// A modern-only server over stdio (the v2 TypeScript SDK's <c>serveStdio</c> with <c>legacy: "reject"</c>,
/// Assets/modern-stdio-server.mjs): probed with <c>server/discover</c>, called statelessly, used by both client eras.
/// </summary>
public sealed class ModernStdioTests
{
    private static readonly HttpClient Http = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_modern_only_stdio_server_serves_2025_and_modern_clients_and_its_input_requests_reach_a_2025_client()
    {
        await using var gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                McpServers =
                [
                    GatewayHarness.Stdio("quiet", Repo.Node, Repo.Asset("modern-stdio-server.mjs")) with
                    {
                        Env = new Dictionary<string, string> { ["ARCHESTRA_NODE_MODULES"] = Repo.NodeModules },
                    },
                ],
                Profiles = [GatewayHarness.Profile("q", "quiet")],
            }
        );
        var url = gateway.McpUrl("q");

        // A 2025 client (sessions) lists and calls it.
        var transport = new HttpClientTransport(new HttpClientTransportOptions { Endpoint = url, TransportMode = HttpTransportMode.StreamableHttp });
        await using (var legacy = await McpClient.CreateAsync(transport, LegacyClient.Options(), cancellationToken: Ct))
        {
            Assert.Contains("whisper", (await legacy.ListToolsAsync(cancellationToken: Ct)).Select(t => t.Name));
            var whispered = await legacy.CallToolAsync("whisper", new Dictionary<string, object?> { ["text"] = "QUIET" }, cancellationToken: Ct);
            Assert.Equal("quiet", whispered.Content.OfType<TextContentBlock>().Single().Text);
        }

        // A 2026-07-28 request.
        var (_, modern) = await ModernRaw.SendAsync(
            Http,
            ModernRaw.Post(url, ModernRaw.Body(1, "tools/call", "\"name\":\"whisper\",\"arguments\":{\"text\":\"HUSH\"}"), "tools/call", "whisper")
        );
        var result = modern.GetProperty("result");
        Assert.Equal("complete", result.GetProperty("resultType").GetString());
        Assert.Equal("hush", result.GetProperty("content")[0].GetProperty("text").GetString());

        // Its input_required reaches a 2025 client (the v1 TypeScript SDK) as elicitation/create on the call's stream.
        await using var process = ExternalProcess.Start(
            Repo.Node,
            [Repo.Asset("ts-client-input.mjs"), url.ToString(), "2025", "confirm", "{}"],
            new Dictionary<string, string> { ["ARCHESTRA_NODE_MODULES"] = Repo.NodeModules }
        );
        Assert.True(await process.WaitForExitAsync(TimeSpan.FromSeconds(60)) == 0, process.Output);
        var run = JsonDocument.Parse(process.Output.Split('\n').Last(l => l.StartsWith('{'))).RootElement;
        Assert.Equal("Who confirms?", run.GetProperty("asked")[0].GetProperty("message").GetString());
        Assert.Equal("confirmed by Ada Lovelace", run.GetProperty("text").GetString());

        // Its list changes reach a modern listen stream through the gateway's own subscriptions/listen over stdio.
        var (listenResponse, listen) = await ModernListenTests.ListenAsync(url, "s", "{\"toolsListChanged\":true}");
        using (listenResponse)
        {
            Assert.NotNull(await ModernListenTests.NextAsync(listen, TimeSpan.FromSeconds(10)));
            var (_, grown) = await ModernRaw.SendAsync(
                Http,
                ModernRaw.Post(url, ModernRaw.Body(2, "tools/call", "\"name\":\"grow\",\"arguments\":{}"), "tools/call", "grow")
            );
            Assert.Equal("grown", grown.GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString());
            var changed = (await ModernListenTests.NextAsync(listen, TimeSpan.FromSeconds(10)))!.Value;
            Assert.Equal("notifications/tools/list_changed", changed.GetProperty("method").GetString());
        }

        var (_, listed) = await ModernRaw.SendAsync(Http, ModernRaw.Post(url, ModernRaw.Body(3, "tools/list"), "tools/list"));
        Assert.Contains("late", listed.GetProperty("result").GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("name").GetString()));
    }
}
