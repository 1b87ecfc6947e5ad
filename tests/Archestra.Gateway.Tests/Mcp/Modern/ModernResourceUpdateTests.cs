using System.Text.Json;
using Archestra.Gateway.Configuration;
using Archestra.Gateway.Tests.Infrastructure;

namespace Archestra.Gateway.Tests.Mcp.Modern;

/// <summary>
/// Resource updates across eras: a modern client's <c>subscriptions/listen</c> with <c>resourceSubscriptions</c> makes the
/// gateway subscribe on a 2025 server (resources/subscribe), and a 2025 session's resources/subscribe on a modern-only
/// server joins the gateway's own listen on it; updates reach exactly the subscribers.
/// </summary>
public sealed class ModernResourceUpdateTests : IClassFixture<ModernUpstreamFixture>
{
    private static readonly HttpClient Http = new() { Timeout = Timeout.InfiniteTimeSpan };
    private readonly ModernUpstreamFixture _fixture;

    public ModernResourceUpdateTests(ModernUpstreamFixture fixture)
    {
        _fixture = fixture;
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<(int Status, JsonElement Message)> CallAsync(Uri url, string tool) =>
        ModernRaw.SendAsync(Http, ModernRaw.Post(url, ModernRaw.Body(5, "tools/call", $"\"name\":\"{tool}\",\"arguments\":{{}}"), "tools/call", tool));

    [Fact]
    public async Task A_modern_listen_stream_subscribed_to_a_2025_servers_resource_gets_its_updates_and_others_do_not()
    {
        await using var gateway = await GatewayHarness.StartAsync(
            new GatewayConfig
            {
                McpServers = [GatewayHarness.Stdio("fixture", "dotnet", Repo.FixtureDll, "--stdio")],
                Profiles = [GatewayHarness.Profile("f", "fixture")],
            }
        );
        var url = gateway.McpUrl("f");
        var (watchResponse, watch) = await ModernListenTests.ListenAsync(url, "w", "{\"resourceSubscriptions\":[\"test://watched-resource\"]}");
        var (otherResponse, other) = await ModernListenTests.ListenAsync(url, "o", "{\"toolsListChanged\":true}");
        using (watchResponse)
        using (otherResponse)
        {
            // The acknowledgment names the URIs honoured: those a server of the profile owns and took the subscription for.
            var ack = (await ModernListenTests.NextAsync(watch, TimeSpan.FromSeconds(10)))!.Value;
            Assert.Equal("{\"resourceSubscriptions\":[\"test://watched-resource\"]}", ack.GetProperty("params").GetProperty("notifications").GetRawText());
            Assert.NotNull(await ModernListenTests.NextAsync(other, TimeSpan.FromSeconds(10)));

            var (status, _) = await CallAsync(url, "test_update_watched_resource");
            Assert.Equal(200, status);

            var updated = (await ModernListenTests.NextAsync(watch, TimeSpan.FromSeconds(10)))!.Value;
            Assert.Equal("notifications/resources/updated", updated.GetProperty("method").GetString());
            Assert.Equal("test://watched-resource", updated.GetProperty("params").GetProperty("uri").GetString());
            Assert.Equal("\"w\"", updated.GetProperty("params").GetProperty("_meta").GetProperty("io.modelcontextprotocol/subscriptionId").GetRawText());
            Assert.Null(await ModernListenTests.NextAsync(other, TimeSpan.FromMilliseconds(500)));
        }

        // server/discover says subscriptions are offered.
        var (_, discovered) = await ModernRaw.SendAsync(Http, ModernRaw.Post(url, ModernRaw.Body(1, "server/discover"), "server/discover"));
        Assert.True(discovered.GetProperty("result").GetProperty("capabilities").GetProperty("resources").GetProperty("subscribe").GetBoolean());
    }

    [Fact]
    public async Task A_2025_sessions_resources_subscribe_on_a_modern_only_server_brings_its_updates_through_the_gateways_listen()
    {
        var url = _fixture.Gateway.McpUrl("both");
        using var init = await Http.SendAsync(RawMcp.Post(url, RawMcp.Initialize()), Ct);
        var session = init.Headers.GetValues("Mcp-Session-Id").Single();
        using var get = new HttpRequestMessage(HttpMethod.Get, url);
        get.Headers.Add("Mcp-Session-Id", session);
        get.Headers.TryAddWithoutValidation("Accept", "text/event-stream");
        using var stream = await Http.SendAsync(get, HttpCompletionOption.ResponseHeadersRead, Ct);
        using var events = new StreamReader(await stream.Content.ReadAsStreamAsync(Ct));

        var (_, subscribed) = await ModernRaw.SendAsync(
            Http,
            RawMcp.Post(url, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"resources/subscribe\",\"params\":{\"uri\":\"note://pad\"}}", session)
        );
        Assert.True(subscribed.TryGetProperty("result", out _), subscribed.ToString());

        // The gateway's listen on the server is opened again with the URI; touch until its update arrives.
        JsonElement? update = null;
        for (var attempt = 0; update is null; attempt++)
        {
            Assert.True(attempt < 50, "no resources/updated reached the session");
            await CallAsync(url, "modern__touch");
            while (await ModernListenTests.NextAsync(events, TimeSpan.FromMilliseconds(300)) is { } message)
            {
                // The session also hears of server-everything's own changes; only the update counts.
                if (message.GetProperty("method").GetString() == "notifications/resources/updated")
                {
                    update = message;
                    break;
                }
            }
        }

        Assert.Equal("notifications/resources/updated", update.Value.GetProperty("method").GetString());
        Assert.Equal("note://pad", update.Value.GetProperty("params").GetProperty("uri").GetString());
        Assert.False(update.Value.GetProperty("params").TryGetProperty("_meta", out _), update.Value.ToString());
    }
}
