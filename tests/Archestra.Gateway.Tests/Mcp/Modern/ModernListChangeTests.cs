using System.Text.Json;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp.Modern;

/// <summary>
/// A modern-only server's list changes reach the gateway through its own <c>subscriptions/listen</c> on the server, and from
/// there both client eras: a 2025 session's GET stream and a 2026-07-28 client's listen stream. Between changes the
/// server's <c>ttlMs</c> (60 s) holds: the gateway does not fetch the list again.
/// </summary>
public sealed class ModernListChangeTests : IClassFixture<ModernUpstreamFixture>
{
    private static readonly HttpClient Http = new() { Timeout = Timeout.InfiniteTimeSpan };
    private readonly ModernUpstreamFixture _fixture;

    public ModernListChangeTests(ModernUpstreamFixture fixture)
    {
        _fixture = fixture;
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<JsonElement> StatsAsync()
    {
        var url = _fixture.Gateway.McpUrl("both");
        var (_, message) = await ModernRaw.SendAsync(
            Http,
            ModernRaw.Post(url, ModernRaw.Body(9, "tools/call", "\"name\":\"modern__stats\",\"arguments\":{}"), "tools/call", "modern__stats")
        );
        return JsonDocument.Parse(message.GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString()!).RootElement;
    }

    private static int Count(JsonElement stats, string method) => stats.GetProperty("methods").TryGetProperty(method, out var n) ? n.GetInt32() : 0;

    private async Task<string[]> ToolsAsync()
    {
        var (_, listed) = await ModernRaw.SendAsync(Http, ModernRaw.Post(_fixture.Gateway.McpUrl("both"), ModernRaw.Body(2, "tools/list"), "tools/list"));
        return [.. listed.GetProperty("result").GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("name").GetString()!)];
    }

    [Fact]
    public async Task A_modern_servers_tool_list_change_reaches_2025_sessions_and_modern_listeners_and_the_list_is_fetched_again_only_then()
    {
        var url = _fixture.Gateway.McpUrl("both");

        // The gateway listens to the modern-only server once it is ready.
        for (var attempt = 0; Count(await StatsAsync(), "subscriptions/listen") < 1; attempt++)
        {
            Assert.True(attempt < 200, "the gateway never opened subscriptions/listen on the modern-only server");
            await Task.Delay(50, Ct);
        }

        // Listed twice within the TTL: one fetch from the server.
        Assert.DoesNotContain("modern__late", await ToolsAsync());
        Assert.DoesNotContain("modern__late", await ToolsAsync());
        var fetched = Count(await StatsAsync(), "tools/list");

        // A 2025 session with its GET stream, and a 2026-07-28 listen stream.
        using var init = await Http.SendAsync(RawMcp.Post(url, RawMcp.Initialize()), Ct);
        var session = init.Headers.GetValues("Mcp-Session-Id").Single();
        using var get = new HttpRequestMessage(HttpMethod.Get, url);
        get.Headers.Add("Mcp-Session-Id", session);
        get.Headers.TryAddWithoutValidation("Accept", "text/event-stream");
        using var stream = await Http.SendAsync(get, HttpCompletionOption.ResponseHeadersRead, Ct);
        using var legacy = new StreamReader(await stream.Content.ReadAsStreamAsync(Ct));
        var (listenResponse, modern) = await ModernListenTests.ListenAsync(url, "watch", "{\"toolsListChanged\":true}");
        using (listenResponse)
        {
            Assert.Equal(
                "notifications/subscriptions/acknowledged",
                (await ModernListenTests.NextAsync(modern, TimeSpan.FromSeconds(10)))!.Value.GetProperty("method").GetString()
            );

            var (_, grown) = await ModernRaw.SendAsync(
                Http,
                ModernRaw.Post(url, ModernRaw.Body(3, "tools/call", "\"name\":\"modern__grow\",\"arguments\":{}"), "tools/call", "modern__grow")
            );
            Assert.Equal("grown", grown.GetProperty("result").GetProperty("content")[0].GetProperty("text").GetString());

            var toModern = (await ModernListenTests.NextAsync(modern, TimeSpan.FromSeconds(10)))!.Value;
            Assert.Equal("notifications/tools/list_changed", toModern.GetProperty("method").GetString());
            Assert.Equal("\"watch\"", toModern.GetProperty("params").GetProperty("_meta").GetProperty("io.modelcontextprotocol/subscriptionId").GetRawText());

            var toLegacy = (await ModernListenTests.NextAsync(legacy, TimeSpan.FromSeconds(10)))!.Value;
            Assert.Equal("notifications/tools/list_changed", toLegacy.GetProperty("method").GetString());

            // The server's subscription id stays between the server and the gateway.
            Assert.False(toLegacy.TryGetProperty("params", out var p) && p.TryGetProperty("_meta", out _), toLegacy.ToString());
        }

        Assert.Contains("modern__late", await ToolsAsync());
        Assert.Contains("modern__late", await ToolsAsync());
        Assert.Equal(fetched + 1, Count(await StatsAsync(), "tools/list"));
    }
}
